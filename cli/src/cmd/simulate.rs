//! `kessler simulate`: a simulated night, an S/N-grid benchmark, or beam-park radar maps, as a dataset folder.

use anyhow::Result;

use crate::args::SimulateArgs;

/// Write the dataset asked for and say what was written.
pub fn run(args: SimulateArgs) -> Result<()> {
    let out = &args.out;
    let spinner = indicatif::ProgressBar::new_spinner().with_message("simulating");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    if let Some(grid) = &args.snr_grid {
        let scenario = kessler_sim::Scenario::default().with_side(args.side);
        let (frames, truth) =
            kessler_sim::simulate_snr_grid(&scenario, args.frames.unwrap_or(100), grid, args.seed);
        kessler_sim::write_frames(out, &frames, &truth)?;
        spinner.finish_and_clear();
        println!(
            "{} frames, {} streaks at S/N {grid:?} written to {}",
            frames.len(),
            truth.len(),
            out.display()
        );
    } else if args.radar {
        let scenario = kessler_sim::RadarScenario::default();
        let (frames, truth) =
            kessler_sim::simulate_radar(&scenario, args.frames.unwrap_or(20), args.seed);
        kessler_sim::write_frames(out, &frames, &truth)?;
        spinner.finish_and_clear();
        println!(
            "{} radar maps, {} tracks written to {}",
            frames.len(),
            truth.len(),
            out.display()
        );
    } else {
        let scenario = kessler_sim::Scenario::default();
        let night = kessler_sim::simulate(&scenario, args.frames, args.seed)?;
        kessler_sim::write_dataset(out, &scenario, &night)?;
        spinner.finish_and_clear();
        println!(
            "{} frames, {} streaks of {} objects written to {}",
            night.frames.len(),
            night.truth.len(),
            night.objects.len(),
            out.display()
        );
    }
    Ok(())
}
