//! Streak cutouts: a small 8-bit picture of the frame around each streak, carried in the detections message so that
//! a reviewer sees the evidence without the frame file (ZTF alerts carry cutouts for the same reason: Masci et al.
//! 2019, PASP 131, 018003, section 7).
//!
//! The box is the streak's bounding box grown by [`MARGIN_PX`] on every side (and to at least [`MIN_SIDE_PX`]),
//! clipped to the frame, averaged over `scale x scale` blocks so that its longer side is at most [`MAX_SIDE_PX`],
//! and stretched linearly from the box's median - 2 sigma to median + 10 sigma (sigma from the median absolute
//! deviation, 1.4826 MAD) onto 0..=255.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ndarray::{ArrayView2, s};
use serde::{Deserialize, Serialize};

use crate::Streak;
use crate::cpu::size;

/// Frame pixels around the streak's bounding box, px.
pub const MARGIN_PX: f64 = 12.0;
/// The least side of a cutout's box in the frame, px (a short streak still shows its surroundings).
pub const MIN_SIDE_PX: u32 = 48;
/// The longest side of a cutout, cutout pixels.
pub const MAX_SIDE_PX: u32 = 128;

/// A streak's cutout: which part of the frame it shows and the picture (PNG, 8-bit grey).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cutout {
    /// The frame column and row (0-based) of the cutout's first pixel's corner.
    pub x0: u32,
    pub y0: u32,
    /// Frame pixels per cutout pixel along each axis.
    pub scale: u32,
    /// Cutout pixels.
    pub width: u32,
    pub height: u32,
    /// The PNG file, base64 (RFC 4648, with padding).
    pub png_base64: String,
}

impl Cutout {
    /// The PNG bytes; `None` when the base64 is damaged.
    pub fn png(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.png_base64).ok()
    }

    /// Where the frame pixel (x, y) (0-based, fractional) falls in the cutout, cutout pixels.
    pub fn to_cutout(&self, x: f64, y: f64) -> (f64, f64) {
        let s = f64::from(self.scale);
        (
            (x + 0.5 - f64::from(self.x0)) / s - 0.5,
            (y + 0.5 - f64::from(self.y0)) / s - 0.5,
        )
    }
}

/// The cutout of `streak` in a frame of `pixels` (shape `(height, width)`).
pub fn cutout(pixels: ArrayView2<f32>, streak: &Streak) -> Cutout {
    let (width, height) = size(&pixels);
    let span = |a: f64, b: f64, limit: u32| {
        let (lo, hi) = (a.min(b) - MARGIN_PX, a.max(b) + MARGIN_PX);
        let grow = (f64::from(MIN_SIDE_PX) - (hi - lo)).max(0.0) / 2.0;
        let lo = (lo - grow).floor().clamp(0.0, f64::from(limit - 1)) as u32;
        let hi = (hi + grow)
            .ceil()
            .clamp(f64::from(lo + 1), f64::from(limit)) as u32;
        (lo, hi)
    };
    let (x0, x1) = span(streak.x1, streak.x2, width);
    let (y0, y1) = span(streak.y1, streak.y2, height);
    let scale = (x1 - x0).max(y1 - y0).div_ceil(MAX_SIDE_PX).max(1);
    let (w, h) = ((x1 - x0) / scale, (y1 - y0) / scale);
    let (w, h) = (w.max(1), h.max(1));
    let mut binned = Vec::with_capacity((w * h) as usize);
    for by in 0..h {
        for bx in 0..w {
            let rows = (y0 + by * scale) as usize..(y0 + (by + 1) * scale).min(height) as usize;
            let cols = (x0 + bx * scale) as usize..(x0 + (bx + 1) * scale).min(width) as usize;
            let block = pixels.slice(s![rows, cols]);
            // Summed in row-major order, one pixel at a time (not ndarray's pairwise `sum`), so
            // that the cutouts of existing messages are reproduced bit for bit.
            let sum = block.iter().fold(0.0f32, |sum, &p| sum + p);
            let n = block.len() as f32;
            binned.push(if n > 0.0 { sum / n } else { 0.0 });
        }
    }
    let median = |v: &mut Vec<f32>| {
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f32::total_cmp).1
    };
    let mut sorted = binned.clone();
    let m = median(&mut sorted);
    let mut deviations: Vec<f32> = binned.iter().map(|v| (v - m).abs()).collect();
    let sigma = (1.4826 * median(&mut deviations)).max(1e-6);
    let (lo, hi) = (m - 2.0 * sigma, m + 10.0 * sigma);
    let grey: Vec<u8> = binned
        .iter()
        .map(|v| ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8)
        .collect();
    let mut png = vec![];
    image::ImageBuffer::<image::Luma<u8>, _>::from_raw(w, h, grey)
        .expect("w * h grey pixels")
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG encodes into memory");
    Cutout {
        x0,
        y0,
        scale,
        width: w,
        height: h,
        png_base64: STANDARD.encode(png),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn streak(x1: f64, y1: f64, x2: f64, y2: f64) -> Streak {
        Streak {
            x1,
            y1,
            x2,
            y2,
            snr: 20.0,
            flux: 1000.0,
            width_px: 2.0,
            detection_snr: 0.0,
            sigma_along_px: 1.0,
            sigma_cross_px: 0.5,
        }
    }

    #[test]
    fn a_cutout_frames_its_streak_and_decodes() {
        // Some texture for the stretch.
        let mut pixels = Array2::from_shape_fn((300, 400), |(y, x)| 100.0 + ((x + y) % 7) as f32);
        pixels.slice_mut(s![150, 100..200]).fill(5000.0);
        let c = cutout(pixels.view(), &streak(100.0, 150.0, 199.0, 150.0));
        assert_eq!((c.x0, c.y0, c.scale), (88, 126, 1));
        assert_eq!((c.width, c.height), (123, 48));
        let png = image::load_from_memory(&c.png().unwrap())
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (123, 48));
        // The streak's row is white, the sky is not.
        let (cx, cy) = c.to_cutout(150.0, 150.0);
        assert_eq!(png.get_pixel(cx.round() as u32, cy.round() as u32).0, [255]);
        assert!(png.get_pixel(0, 0).0[0] < 128);
    }

    #[test]
    fn a_long_streak_is_binned_and_an_edge_streak_clipped() {
        let pixels = Array2::from_elem((1000, 1000), 10.0f32);
        let c = cutout(pixels.view(), &streak(0.0, 0.0, 999.0, 600.0));
        assert_eq!((c.x0, c.y0), (0, 0));
        assert_eq!(c.scale, 8);
        assert!(c.width <= MAX_SIDE_PX && c.height <= MAX_SIDE_PX);
        let (x, y) = c.to_cutout(999.0, 600.0);
        assert!(
            (x - 124.44).abs() < 0.01 && (y - 74.56).abs() < 0.01,
            "{x} {y}"
        );
    }
}
