//! The arguments of `kessler catalog` and its review subcommands.

use std::path::PathBuf;

use crate::cmd::review::ExportFormat;
use clap::Subcommand;
use kessler_catalog::review::SortKey;
use kessler_catalog::{CatalogError, ObjectStatus};

use super::Announce;

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Objects awaiting review (or of another status), filtered and sorted.
    List {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// candidate, catalogued, rejected, merged or all.
        #[arg(long, default_value = "candidate", value_parser = status_filter)]
        status: StatusFilter,
        #[arg(long)]
        sensor: Option<String>,
        /// Last observed on or after this UTC date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// First observed on or before this UTC date (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// id, first, last, observations, rms or sigma.
        #[arg(long, value_parser = sort_key)]
        sort: Option<SortKey>,
        /// Largest first.
        #[arg(long)]
        descending: bool,
        #[arg(long)]
        json: bool,
    },
    /// One object's evidence: orbit, residuals, nearest objects, history.
    Show {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Accept a candidate into the catalog.
    Accept {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a candidate, saying why.
    Reject {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        reason: String,
    },
    /// Merge a candidate into another object; that object's orbit is refitted on all the observations.
    Merge {
        #[command(flatten)]
        who: Decider,
        #[arg(long)]
        into: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Who decides what about which object, and where the decision is announced.
#[derive(clap::Args)]
pub struct Decider {
    #[arg(long, default_value = "kessler.db")]
    pub db: PathBuf,
    /// The object.
    pub id: String,
    /// Who decides.
    #[arg(long)]
    pub by: String,
    #[command(flatten)]
    pub announce: Announce,
}

/// An object status named on the command line.
fn object_status(text: &str) -> Result<ObjectStatus, String> {
    text.parse().map_err(|e: CatalogError| e.to_string())
}

/// A status to filter by, or none (`all`). A type of its own: clap reads a field of type `Option` as an optional
/// flag, not as a value that may be "nothing".
#[derive(Debug, Clone, Copy)]
pub struct StatusFilter(pub Option<ObjectStatus>);

/// `--status`: one of the statuses, or `all`.
fn status_filter(text: &str) -> Result<StatusFilter, String> {
    if text == "all" {
        Ok(StatusFilter(None))
    } else {
        object_status(text).map(|s| StatusFilter(Some(s)))
    }
}

/// A `--sort` key, spelt as the API spells it.
fn sort_key(text: &str) -> Result<SortKey, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("{text:?}: one of id, first, last, observations, rms, sigma"))
}

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// List objects with their latest orbit.
    List {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// One JSON array of objects.
        #[arg(long)]
        json: bool,
    },
    /// Enter element sets (TLE text, optional name lines) as catalogued objects: a new object per NORAD number,
    /// a newer epoch replaces an object's elements, an older or equal one changes nothing. The track stage then
    /// correlates tracks with them (SGP4 and a nominal TLE covariance) and refines them.
    Import {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        /// TLE file.
        #[arg(long)]
        tle: PathBuf,
    },
    /// Review candidates from the terminal (the same operations as `kessler review`).
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Export the objects of a status (catalogued: accepted or imported) as CCSDS OMM, OEM or TLE. Objects without
    /// an element set get SGP4 mean elements fitted to their observations, numbered 80000 + their number.
    Export {
        #[arg(long, default_value = "kessler.db")]
        db: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(long, default_value = "catalogued", value_parser = object_status)]
        status: ObjectStatus,
        /// A folder for the files (ID.omm, ID.oem or catalog.tle); standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}
