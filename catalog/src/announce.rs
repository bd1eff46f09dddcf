//! Announcing catalog changes on the catalog topic (JSON, key = object id). The `history` table is an outbox: a
//! change is committed with what caused it and announced afterwards, marked once the broker acknowledged it, so a
//! crash or an absent broker in between delays an announcement but never loses it.

use kessler_ingest::Sink;
use kessler_ingest::topics::Topics;
use kessler_ingest::transport::TransportError;

use crate::{Catalog, CatalogError};

/// Why the outbox could not be emptied (what was announced stays marked).
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("announcing on the catalog topic: {0}")]
    Transport(#[from] TransportError),
}

/// Send the catalog's unannounced changes to the catalog topic, oldest first, marking each once acknowledged.
pub async fn publish_changes(
    sink: &impl Sink,
    topics: &Topics,
    catalog: &mut Catalog,
) -> Result<(), AnnounceError> {
    for (seq, change) in catalog.unpublished_changes()? {
        let json = serde_json::to_vec(&change).expect("a catalog change always serialises");
        sink.send(&topics.catalog, &change.object_id, json).await?;
        catalog.mark_published(seq)?;
    }
    Ok(())
}
