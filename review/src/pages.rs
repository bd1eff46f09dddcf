//! The review pages: HTML rendered on the server (no script, no front-end build), the residual plot as inline SVG,
//! and streak cutouts with the fitted line drawn. Everything taken from the catalog is escaped ([`esc`]).

use kessler_catalog::ObjectStatus;
use kessler_catalog::review::{CandidateDetail, CandidateFilter, CandidateRow, Decision, Residual};
use kessler_detector::cutout::Cutout;
use kessler_detector::message::Detections;

/// Text for HTML: `& < > " '` escaped, so it is inert in element content and in quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for a URL query or path segment: everything but unreserved characters (RFC 3986, 2.3) percent-encoded.
pub fn url(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#1d2330;color:#fff;padding:10px 24px}header a{color:#fff;margin-right:18px;text-decoration:none}\
main{padding:16px 24px;max-width:1200px}table{border-collapse:collapse;background:#fff;margin:8px 0}\
th,td{padding:4px 10px;border-bottom:1px solid #e1e4ea;text-align:left;vertical-align:top}th{background:#eef0f4}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.status{padding:1px 8px;border-radius:8px;background:#dde3f0}\
.candidate{background:#ffe9b3}.catalogued{background:#c8ecd0}.rejected{background:#f6c9c9}.merged{background:#ddd}\
section{background:#fff;padding:12px 16px;margin:12px 0;border:1px solid #e1e4ea}h2{margin:0 0 8px;font-size:16px}\
.cutouts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;text-align:center;font-size:12px}\
img.cutout{width:192px;image-rendering:pixelated;border:1px solid #999;background:#000}\
form.decide label{display:inline-block;margin:4px 12px 4px 0}.error{color:#a00;font-weight:bold}\
form.filter{margin:8px 0}form.filter label{margin-right:10px}";

/// A whole page.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{} - kessler review</title>\
         <style>{STYLE}</style></head><body><header><a href=\"/\"><b>kessler review</b></a>\
         <a href=\"/?status=candidate\">candidates</a><a href=\"/?status=all\">all objects</a>\
         <a href=\"/history\">history</a></header><main>{body}</main></body></html>",
        esc(title)
    )
}

fn number(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".into(),
    }
}

fn status(s: ObjectStatus) -> String {
    format!("<span class=\"status {s}\">{s}</span>")
}

/// What both the list and an object's summary show of a row, escaped: status, sensors, first and last
/// observation, tracks, observations, RMS and 1-sigma position.
fn cells(r: &CandidateRow) -> [String; 8] {
    [
        status(r.status),
        esc(&r.sensors.join(", ")),
        esc(&r.first_utc),
        esc(&r.last_utc),
        r.tracks.to_string(),
        r.observations.to_string(),
        number(r.rms_arcsec, 2),
        number(Some(r.position_sigma_km), 3),
    ]
}

/// The candidates page: a filter form and the table of `rows`.
pub fn candidates(filter: &CandidateFilter, rows: &[CandidateRow]) -> String {
    let selected = |a: &str, b: &str| if a == b { " selected" } else { "" };
    let current = filter.status.map_or("all", ObjectStatus::as_str);
    let statuses: String = std::iter::once("all")
        .chain(ObjectStatus::ALL.iter().map(|s| s.as_str()))
        .map(|s| format!("<option{}>{s}</option>", selected(s, current)))
        .collect();
    let sort = filter
        .sort
        .map(|k| format!("{k:?}").to_lowercase())
        .unwrap_or_else(|| "id".into());
    let sorts: String = ["id", "first", "last", "observations", "rms", "sigma"]
        .iter()
        .map(|s| format!("<option{}>{s}</option>", selected(s, &sort)))
        .collect();
    let text = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    let mut body = format!(
        "<h1>Objects</h1><form class=filter method=get action=\"/\">\
         <label>status <select name=status>{statuses}</select></label>\
         <label>sensor <input name=sensor size=10 value=\"{}\"></label>\
         <label>from <input name=from type=date value=\"{}\"></label>\
         <label>to <input name=to type=date value=\"{}\"></label>\
         <label>sort <select name=sort>{sorts}</select></label>\
         <label><input type=checkbox name=descending value=true{}> largest first</label>\
         <button>show</button></form>",
        text(&filter.sensor),
        text(&filter.from),
        text(&filter.to),
        if filter.descending { " checked" } else { "" },
    );
    body += "<table id=candidates><tr><th>object</th><th>status</th><th>sensors</th><th>first (UTC)</th>\
             <th>last (UTC)</th><th>tracks</th><th>obs</th><th>RMS (arcsec)</th><th>1-sigma position (km)</th></tr>";
    for r in rows {
        let [
            state,
            sensors,
            first,
            last,
            tracks,
            observations,
            rms,
            sigma,
        ] = cells(r);
        body += &format!(
            "<tr><td><a href=\"/objects/{}\">{}</a>{}</td><td>{state}</td><td>{sensors}</td><td>{first}</td>\
             <td>{last}</td><td class=n>{tracks}</td><td class=n>{observations}</td><td class=n>{rms}</td>\
             <td class=n>{sigma}</td></tr>",
            url(&r.id),
            esc(&r.id),
            r.name
                .as_deref()
                .map(|n| format!(" {}", esc(n)))
                .unwrap_or_default(),
        );
    }
    body += "</table>";
    if rows.is_empty() {
        body += "<p>No objects match.</p>";
    }
    page("objects", &body)
}

/// Which residual a plot panel shows.
type Component = fn(&Residual) -> f64;

/// Ticks at round values over `lo..=hi` (about `n` of them), as Heckbert's loose labelling ("Nice numbers for graph
/// labels", Graphics Gems, 1990, pp. 61-63): the step is 1, 2 or 5 times a power of ten, the first and last ticks
/// enclose the range. Returns the ticks and the decimals that show the step.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, usize) {
    // Heckbert's nicenum: the 1-2-5 number nearest `x` (`round`) or the smallest one not below it.
    fn nice(x: f64, round: bool) -> f64 {
        let power = 10f64.powf(x.log10().floor());
        let f = x / power;
        let nf = match round {
            true if f < 1.5 => 1.0,
            true if f < 3.0 => 2.0,
            true if f < 7.0 => 5.0,
            false if f <= 1.0 => 1.0,
            false if f <= 2.0 => 2.0,
            false if f <= 5.0 => 5.0,
            _ => 10.0,
        };
        nf * power
    }
    // An empty range (one value) gets a unit around it.
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    };
    let step = nice(nice(hi - lo, false) / (n.max(2) - 1) as f64, true);
    let (first, last) = ((lo / step).floor() as i64, (hi / step).ceil() as i64);
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, (-step.log10().floor()).max(0.0) as usize)
}

/// The residual plot: right ascension (on the sky) and declination residuals against time, one panel each, with
/// 1-sigma error bars; ticks at round values of time and of each residual.
pub fn residual_plot(residuals: &[Residual]) -> String {
    const W: f64 = 760.0;
    const PANEL: f64 = 170.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 14.0;
    let times: Vec<f64> = residuals.iter().map(|r| r.t_s).collect();
    let t0 = times.iter().copied().fold(f64::INFINITY, f64::min);
    let t1 = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if t1 > t0 { t1 - t0 } else { 1.0 };
    // The time axis ends at the last observation: only the ticks within it.
    let (mut t_ticks, t_decimals) = nice_ticks(0.0, span, 6);
    t_ticks.retain(|&t| t <= span * (1.0 + 1e-9));
    let x = |t: f64| LEFT + (t - t0) / span * (W - LEFT - RIGHT);
    let height = 2.0 * (PANEL + BOTTOM) + 3.0 * TOP + 14.0;
    let mut svg = format!(
        "<svg id=residuals xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" \
         font-size=\"11\" font-family=\"sans-serif\">"
    );
    let panels: [(&str, Component); 2] = [
        ("RA cos Dec (arcsec)", |r| r.ra_arcsec),
        ("Dec (arcsec)", |r| r.dec_arcsec),
    ];
    for (p, (label, value)) in panels.iter().enumerate() {
        let top = TOP + p as f64 * (PANEL + BOTTOM + TOP);
        let extent = residuals
            .iter()
            .map(|r| value(r).abs() + r.sigma_arcsec)
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-3);
        let (ticks, decimals) = nice_ticks(-extent, extent, 5);
        let limit = ticks.iter().fold(extent, |m, t| m.max(t.abs()));
        let y = |v: f64| top + PANEL / 2.0 - v / limit * PANEL / 2.0;
        svg += &format!(
            "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{}\" height=\"{PANEL}\" fill=\"#fff\" stroke=\"#99a\"/>\
             <text x=\"4\" y=\"{}\">{label}</text>",
            W - LEFT - RIGHT,
            top - 4.0,
        );
        for &v in &ticks {
            let zero = v == 0.0;
            svg += &format!(
                "<line x1=\"{LEFT}\" x2=\"{0}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"{2}\"{3}/>\
                 <text class=\"tick\" x=\"{4}\" y=\"{5:.1}\" text-anchor=\"end\">{6:.7$}</text>",
                W - RIGHT,
                y(v),
                if zero { "#bbc" } else { "#eef" },
                if zero {
                    " stroke-dasharray=\"4 3\""
                } else {
                    ""
                },
                LEFT - 4.0,
                y(v) + 4.0,
                v,
                decimals,
            );
        }
        for &t in &t_ticks {
            svg += &format!(
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#99a\"/>\
                 <text class=\"tick\" x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4:.5$}</text>",
                x(t0 + t),
                top + PANEL,
                top + PANEL + 4.0,
                top + PANEL + BOTTOM,
                t,
                t_decimals,
            );
        }
        for (r, &t) in residuals.iter().zip(&times) {
            let (v, s) = (value(r), r.sigma_arcsec);
            if !(t.is_finite() && v.is_finite()) {
                continue;
            }
            svg += &format!(
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"#7a8cb8\"/>\
                 <circle class=\"point\" cx=\"{0:.1}\" cy=\"{3:.1}\" r=\"3\" fill=\"#1f4fb4\"><title>{4}: {5:.3}\"</title></circle>",
                x(t),
                y(v + s),
                y(v - s),
                y(v),
                esc(&r.observation_id),
                v,
            );
        }
    }
    svg += &format!(
        "<text x=\"{LEFT}\" y=\"{0}\">seconds after the first observation (0 to {1:.0} s)</text></svg>",
        height - 4.0,
        span
    );
    svg
}

/// A streak's cutout as PNG with the fitted line drawn over it (half-transparent red), scaled 2x.
pub fn cutout_with_line(cutout: &Cutout, line: (f64, f64, f64, f64)) -> Option<Vec<u8>> {
    let grey = image::load_from_memory(&cutout.png()?).ok()?.to_luma8();
    let mut rgb = image::RgbImage::from_fn(grey.width() * 2, grey.height() * 2, |x, y| {
        let v = grey.get_pixel(x / 2, y / 2).0[0];
        image::Rgb([v, v, v])
    });
    let (ax, ay) = cutout.to_cutout(line.0, line.1);
    let (bx, by) = cutout.to_cutout(line.2, line.3);
    let (ax, ay, bx, by) = (
        2.0 * ax + 0.5,
        2.0 * ay + 0.5,
        2.0 * bx + 0.5,
        2.0 * by + 0.5,
    );
    let steps = ((bx - ax).abs().max((by - ay).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let f = i as f64 / steps as f64;
        let (px, py) = (ax + f * (bx - ax), ay + f * (by - ay));
        if px >= 0.0 && py >= 0.0 && (px as u32) < rgb.width() && (py as u32) < rgb.height() {
            let p = rgb.get_pixel_mut(px as u32, py as u32);
            p.0 = [
                ((u16::from(p.0[0]) + 255) / 2) as u8,
                p.0[1] / 2,
                p.0[2] / 2,
            ];
        }
    }
    let mut png = vec![];
    rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(png)
}

/// The streak of `streak_id` in a frame's detections: its pixels, S/N and cutout.
pub fn streak_of<'a>(
    detections: &'a Detections,
    streak_id: &str,
) -> Option<(&'a kessler_detector::Streak, Option<&'a Cutout>)> {
    let k = detections
        .measurements
        .iter()
        .position(|m| m.id == streak_id)?;
    Some((detections.streaks.get(k)?, detections.cutouts.get(k)))
}

fn history_table(decisions: &[Decision]) -> String {
    let mut out = String::from(
        "<table class=history><tr><th>when (UTC)</th><th>object</th><th>change</th><th>by</th><th>why</th>\
         <th>merged</th></tr>",
    );
    for d in decisions {
        let text = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
        out += &format!(
            "<tr><td>{}</td><td><a href=\"/objects/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.at_utc),
            url(&d.object_id),
            esc(&d.object_id),
            d.change,
            text(&d.by),
            text(&d.reason),
            text(&d.merged),
        );
    }
    out + "</table>"
}

/// The history page.
pub fn history(decisions: &[Decision]) -> String {
    page(
        "history",
        &format!("<h1>History</h1>{}", history_table(decisions)),
    )
}

/// One object's page: summary, orbit, residual plot, cutouts, nearest objects, tracks, history and (for a
/// candidate) the decision form. `message` is shown above the form (an action's error).
pub fn candidate(d: &CandidateDetail, message: Option<&str>) -> String {
    let s = &d.summary;
    let o = &d.orbit.state;
    let e = &d.elements;
    let id = esc(&s.id);
    let [
        state,
        sensors,
        first,
        last,
        tracks,
        observations,
        rms,
        sigma,
    ] = cells(s);
    let mut body = format!(
        "<h1>{id} {state}</h1><section><h2>Summary</h2><table>\
         <tr><th>sensors</th><td>{sensors}</td></tr><tr><th>first / last observation (UTC)</th>\
         <td>{first} / {last}</td></tr><tr><th>tracks / observations</th><td>{tracks} / {observations}</td></tr>\
         <tr><th>post-fit RMS</th><td>{rms} arcsec</td></tr><tr><th>1-sigma position</th><td id=sigma>{sigma} km</td>\
         </tr><tr><th>orbit source</th><td>{}</td></tr></table></section>",
        s.orbit_source,
    );
    body += &format!(
        "<section><h2>Orbit (GCRF, epoch {})</h2><table>\
         <tr><th>r (km)</th><td class=n>{:.3}</td><td class=n>{:.3}</td><td class=n>{:.3}</td></tr>\
         <tr><th>v (km/s)</th><td class=n>{:.6}</td><td class=n>{:.6}</td><td class=n>{:.6}</td></tr></table>\
         <table><tr><th>a (km)</th><th>e</th><th>i (deg)</th><th>RAAN (deg)</th><th>arg. perigee (deg)</th>\
         <th>true anomaly (deg)</th><th>period (min)</th></tr><tr><td class=n>{:.3}</td><td class=n>{:.6}</td>\
         <td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{}</td></tr>\
         </table><small>Osculating two-body elements of the state.</small></section>",
        esc(&kessler_ingest::utc::format(o.epoch, 3)),
        o.r_km[0],
        o.r_km[1],
        o.r_km[2],
        o.v_km_s[0],
        o.v_km_s[1],
        o.v_km_s[2],
        e.a_km,
        e.e,
        e.i_deg,
        e.raan_deg,
        e.arg_perigee_deg,
        e.true_anomaly_deg,
        number(e.period_min, 2),
    );
    let mut observations = String::from(
        "<details><summary>the observations</summary><table id=observations><tr><th>observation</th>\
         <th>sensor</th><th>epoch</th><th>RA cos Dec (arcsec)</th><th>Dec (arcsec)</th><th>sigma (arcsec)</th></tr>",
    );
    for r in &d.residuals {
        observations += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{:.3}</td><td class=n>{:.3}</td><td class=n>{:.3}</td></tr>",
            esc(&r.observation_id),
            esc(&r.sensor_id),
            esc(&r.epoch_utc),
            r.ra_arcsec,
            r.dec_arcsec,
            r.sigma_arcsec
        );
    }
    body += &format!(
        "<section><h2>Residuals ({} observations, observed - computed)</h2>{}{observations}</table></details>\
         </section>",
        d.residuals.len(),
        residual_plot(&d.residuals)
    );
    body += "<section><h2>Streaks</h2><div class=cutouts>";
    for (k, r) in d.streaks.iter().enumerate() {
        let found = Detections::from_json(r.detections_json.as_bytes())
            .ok()
            .and_then(|det| streak_of(&det, &r.streak_id).map(|(s, c)| (s.snr, c.is_some())));
        let caption = format!(
            "{}<br>{}",
            esc(&r.frame_id),
            found.map_or("not in its frame's message".into(), |(snr, _)| format!(
                "S/N {snr:.1}"
            ))
        );
        body += &match found {
            Some((_, true)) => format!(
                "<figure><img class=cutout alt=\"streak {}\" src=\"/objects/{}/cutouts/{k}.png\">\
                 <figcaption>{caption}</figcaption></figure>",
                esc(&r.streak_id),
                url(&s.id)
            ),
            _ => format!("<figure><div>no cutout</div><figcaption>{caption}</figcaption></figure>"),
        };
    }
    if d.streaks.is_empty() {
        body += "<p>No streaks (an imported element set).</p>";
    }
    body += "</div></section><section><h2>Nearest catalog objects (at the orbit's epoch)</h2><table>\
             <tr><th>object</th><th>status</th><th>NORAD</th><th>name</th><th>distance (km)</th></tr>";
    for n in &d.nearest {
        body += &format!(
            "<tr><td><a href=\"/objects/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=n>{:.1}</td></tr>",
            url(&n.id),
            esc(&n.id),
            status(n.status),
            n.norad_id.map(|v| v.to_string()).unwrap_or_default(),
            esc(n.name.as_deref().unwrap_or("")),
            n.distance_km,
        );
    }
    body += "</table></section><section><h2>Tracks</h2><table><tr><th>track</th><th>sensor</th>\
             <th>first (UTC)</th><th>last (UTC)</th><th>observations</th></tr>";
    for t in &d.tracks {
        body += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td></tr>",
            esc(&t.id),
            esc(&t.sensor_id),
            esc(&t.first_utc),
            esc(&t.last_utc),
            t.observations
        );
    }
    body += "</table></section>";
    if s.status == ObjectStatus::Candidate {
        let into: String = d
            .nearest
            .iter()
            .map(|n| format!("<option>{}</option>", esc(&n.id)))
            .collect();
        body += &format!(
            "<section><h2>Decision</h2>{}<form class=decide method=post action=\"/objects/{}/decision\">\
             <label>reviewer <input name=by id=by required maxlength=64></label>\
             <label>token <input name=token id=token type=password required></label><br>\
             <label>reason <input name=reason id=reason size=60 maxlength=2000></label>\
             <label>merge into <input name=into id=into list=nearest size=10></label>\
             <datalist id=nearest>{into}</datalist><br>\
             <button name=action value=accept id=accept>accept</button> \
             <button name=action value=reject id=reject>reject (needs a reason)</button> \
             <button name=action value=merge id=merge>merge</button></form></section>",
            message
                .map(|m| format!("<p class=error>{}</p>", esc(m)))
                .unwrap_or_default(),
            url(&s.id),
        );
    }
    body += &format!(
        "<section><h2>History</h2>{}</section>",
        history_table(&d.history)
    );
    page(&s.id, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_catalog_is_inert_in_html_and_urls() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(url("K00001"), "K00001");
        assert_eq!(url("a/b c?&"), "a%2Fb%20c%3F%26");
    }

    #[test]
    fn the_residual_plot_has_a_point_and_an_error_bar_per_residual_per_panel() {
        let residual = |k: usize, v: f64| Residual {
            observation_id: format!("ogs/f{k}/s0/start"),
            sensor_id: "ogs".into(),
            epoch_utc: format!("2006-06-26T22:00:{:02} UTC", 10 * k),
            t_s: 10.0 * k as f64,
            ra_arcsec: v,
            dec_arcsec: -v,
            sigma_arcsec: 1.0,
        };
        let svg = residual_plot(&[residual(0, 0.5), residual(1, -2.0), residual(2, 1.0)]);
        assert!(svg.starts_with("<svg id=residuals"));
        assert_eq!(svg.matches("class=\"point\"").count(), 6);
        assert!(svg.contains("0 to 20 s"), "{svg}");
        // Time ticks every 5 s; residual ticks every 2" (the largest extent is 2" + 1-sigma 1" = 3").
        let ticks: Vec<&str> = svg
            .split("class=\"tick\"")
            .skip(1)
            .map(|t| t.split('>').nth(1).unwrap().trim_end_matches("</text"))
            .collect();
        assert_eq!(
            ticks[..10],
            ["-4", "-2", "0", "2", "4", "0", "5", "10", "15", "20"],
            "{svg}"
        );
    }

    #[test]
    fn nice_ticks_are_1_2_5_steps_enclosing_the_range() {
        assert_eq!(
            nice_ticks(0.0, 20.0, 6),
            (vec![0.0, 5.0, 10.0, 15.0, 20.0], 0)
        );
        assert_eq!(
            nice_ticks(-0.37, 0.37, 5),
            (vec![-0.4, -0.2, 0.0, 0.2, 0.4], 1)
        );
        let (ticks, decimals) = nice_ticks(0.0, 1234.0, 6);
        assert_eq!((ticks, decimals), (vec![0.0, 500.0, 1000.0, 1500.0], 0));
        // An empty range still gets ticks.
        assert!(nice_ticks(5.0, 5.0, 5).0.len() >= 2);
    }
}
