//! The catalog's closed sets of values: an object's review status, the kind of a change, and where an orbit came
//! from. Each is text in the database (with a CHECK constraint in catalogs made since these types) and in JSON,
//! lower case; a stored value outside its set is a [`CatalogError::UnknownValue`] naming the column.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

use crate::CatalogError;

/// One closed set of text values: the enum, its database column (for errors), and each variant's text.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $column:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The SQL list of the values, for a CHECK constraint: `'a', 'b'`.
            #[cfg(test)]
            fn sql_list() -> String {
                $name::ALL.iter().map(|v| format!("'{}'", v.as_str())).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CatalogError;
            fn from_str(text: &str) -> Result<Self, CatalogError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| CatalogError::UnknownValue {
                        column: $column,
                        value: text.to_string(),
                        expected: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: CatalogError| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

text_enum!(
    /// Where an object stands in review.
    ObjectStatus, "objects.status", {
        /// Found by the track stage, awaiting a maintainer's decision.
        Candidate = "candidate",
        /// Accepted by a maintainer, or imported as an element set.
        Catalogued = "catalogued",
        /// Rejected by a maintainer: kept, no longer correlated.
        Rejected = "rejected",
        /// Merged into another object, which now holds its tracks.
        Merged = "merged",
    }
);

impl ObjectStatus {
    /// Whether tracklets may still correlate with the object (it is not rejected or merged away).
    pub fn is_live(self) -> bool {
        matches!(self, ObjectStatus::Candidate | ObjectStatus::Catalogued)
    }
}

text_enum!(
    /// What one catalog change did.
    ChangeKind, "history.change", {
        /// A new candidate object from a track.
        Created = "created",
        /// A track added to a known object, its orbit refitted.
        Refined = "refined",
        /// An element set entered from outside.
        Imported = "imported",
        /// A maintainer accepted a candidate.
        Accepted = "accepted",
        /// A maintainer rejected a candidate.
        Rejected = "rejected",
        /// A maintainer merged a candidate into another object (on both objects' rows).
        Merged = "merged",
    }
);

text_enum!(
    /// Where an orbit came from.
    OrbitSource, "orbits.source", {
        /// The catalog's own orbit determination on its observations.
        Fit = "fit",
        /// An imported element set (SGP4), no observations behind it here.
        Tle = "tle",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_unknown_ones_name_the_column() {
        for s in ObjectStatus::ALL {
            assert_eq!(s.as_str().parse::<ObjectStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        let e = "pending".parse::<ObjectStatus>().unwrap_err().to_string();
        assert!(e.contains("objects.status") && e.contains("pending"), "{e}");
    }

    #[test]
    fn the_schema_checks_exactly_these_values() {
        for check in [
            format!("status IN ({})", ObjectStatus::sql_list()),
            format!("change IN ({})", ChangeKind::sql_list()),
            format!("source IN ({})", OrbitSource::sql_list()),
        ] {
            assert!(crate::SCHEMA.contains(&check), "{check}");
        }
    }
}
