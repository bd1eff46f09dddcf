//! Tile-compressed images (fpack's `.fz`): an image stored as a BINTABLE with `ZIMAGE = T`, each tile of pixels
//! compressed in a variable-length array (FITS Standard 4.0, section 10, "Representations of compressed data").
//!
//! [`decompress`] turns such an HDU back into what [`crate::fits`] reads from a plain image HDU: the image's header
//! cards (the `Z*` keywords mapped back, section 10.1.1 and table 27; the table's own structure keywords dropped;
//! every other card, DATE-OBS, EXPTIME, OBSGEO-*, the WCS, BZERO/BSCALE/BLANK, as it stands) and its pixels as the
//! big-endian bytes an uncompressed image of `BITPIX = ZBITPIX` would hold. The header logic, scaling and
//! undefined-pixel handling of the plain reader then apply unchanged.
//!
//! The tiles are decoded by the fitskit crate (pure Rust; float quantisation with subtractive dithering; checked bit
//! for bit against cfitsio's funpack). RICE_1, GZIP_1 and GZIP_2 are read; fitskit also decodes HCOMPRESS_1 and
//! PLIO_1, but those decoders overflow on corrupt bit streams (found by tests/fz.rs's mutations), so kessler
//! refuses them with an error naming ZCMPTYPE until they return errors instead. fitsrs 0.4.1 was the
//! first choice and falls short on the files fpack writes: RICE_1 is decoded as 4-byte pixels whatever BYTEPIX says
//! (16-bit images, fpack's most common case, fail), GZIP_1 of 16-bit images yields no pixels, edge tiles are sized
//! as full tiles, and malformed or unquantised-float input panics (`unwrap`, `unreachable!`).
//!
//! Before the library sees the bytes, this module checks what would make it allocate without bound or misread:
//! the table's size against the file, ZNAXISn and ZTILEn against [`MAX_SIDE`], and the pixel count against what
//! the compressed bytes can hold ([`MAX_PIXELS_PER_BYTE`]).

use std::collections::HashMap;
use std::io::Cursor;

use crate::fits::{BLOCK, Cards, FitsError, MAX_SIDE};

/// Most pixels one byte of compressed tile data may expand to. deflate expands by at most 1032:1 (zlib's technical
/// notes, "Maximum compression factor"); a RICE_1 block of 32 equal pixels costs its FSBITS code (3 bits for
/// 8-bit pixels), 85 px per byte. An HDU claiming more pixels than this times its data size is corrupt, and is
/// refused before any pixel buffer is allocated.
pub const MAX_PIXELS_PER_BYTE: u64 = 2048;

/// Keywords of a compressed image's header renamed back to the image's own (FITS 4.0 table 27).
const RENAMED: &[(&str, &str)] = &[
    ("ZBITPIX", "BITPIX"),
    ("ZNAXIS", "NAXIS"),
    ("ZSIMPLE", "SIMPLE"),
    ("ZTENSION", "XTENSION"),
    ("ZEXTEND", "EXTEND"),
    ("ZBLOCKED", "BLOCKED"),
    ("ZPCOUNT", "PCOUNT"),
    ("ZGCOUNT", "GCOUNT"),
    ("ZHECKSUM", "CHECKSUM"),
    ("ZDATASUM", "DATASUM"),
];

/// Keywords that describe the table or its compression, not the image: dropped.
const TABLE_KEYWORDS: &[&str] = &[
    "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "CHECKSUM", "DATASUM",
    "ZIMAGE", "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0", "ZMASKCMP", "ZBLANK",
];

/// Indexed keywords (`<prefix><n>`) of the table or its compression: dropped.
const TABLE_INDEXED: &[&str] = &[
    "NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TSCAL", "TZERO", "TNULL", "TDISP", "ZTILE",
    "ZNAME", "ZVAL",
];

/// The image header of a compressed image HDU whose table header is `table`: the `Z*` structure keywords renamed,
/// ZNAXISn as NAXISn, ZBLANK as BLANK for an integer image without one (its undefined-pixel value), the table's
/// keywords dropped, all other cards kept.
fn image_cards(table: &HashMap<String, String>) -> HashMap<String, String> {
    let indexed = |key: &str, prefixes: &[&str]| {
        prefixes.iter().any(|p| {
            key.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let mut cards: HashMap<String, String> = table
        .iter()
        .filter(|(k, _)| {
            !TABLE_KEYWORDS.contains(&k.as_str())
                && !indexed(k, TABLE_INDEXED)
                && !RENAMED.iter().any(|(z, _)| z == k)
                && !indexed(k, &["ZNAXIS"])
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (z, plain) in RENAMED {
        if let Some(v) = table.get(*z) {
            cards.insert((*plain).into(), v.clone());
        }
    }
    for (k, v) in table {
        if let Some(n) = k.strip_prefix("ZNAXIS")
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            cards.insert(format!("NAXIS{n}"), v.clone());
        }
    }
    let integer = table
        .get("ZBITPIX")
        .and_then(|v| v.parse::<i64>().ok())
        .is_some_and(|b| b > 0);
    if integer && let Some(blank) = table.get("ZBLANK") {
        cards.entry("BLANK".into()).or_insert_with(|| blank.clone());
    }
    cards
}

/// The image of the compressed image HDU at byte `at` of `bytes` (its table header `table`, its data at
/// `data_start`): the image's header cards and its pixels as big-endian bytes of `BITPIX = ZBITPIX`, row by row.
/// Errors name the file, the HDU's byte offset and the keyword or the library's account of the tile.
pub(crate) fn decompress(
    table: &Cards,
    bytes: &[u8],
    at: usize,
    data_start: usize,
) -> Result<(HashMap<String, String>, Vec<u8>), FitsError> {
    let path = &table.path;
    let hdu_error = |problem: String| FitsError::Hdu {
        path: path.clone(),
        offset: at,
        problem,
    };
    let int = |key: &str, range: std::ops::RangeInclusive<i64>| -> Result<i64, FitsError> {
        let v = table.f64(key)?.ok_or_else(|| table.missing(key))?;
        if v.fract() != 0.0 || !range.contains(&(v as i64)) {
            return Err(table.bad(key, &format!("{v} is not an integer in {range:?}")));
        }
        Ok(v as i64)
    };
    // The table: its size against the file, so that the library reads no promise past the end.
    int("BITPIX", 8..=8)?;
    int("NAXIS", 2..=2)?;
    if table.raw("GCOUNT").is_some() {
        int("GCOUNT", 1..=1)?;
    }
    let (row_bytes, rows) = (
        int("NAXIS1", 0..=u32::MAX as i64)?,
        int("NAXIS2", 0..=u32::MAX as i64)?,
    );
    let heap = match table.f64("PCOUNT")? {
        Some(_) => int("PCOUNT", 0..=u32::MAX as i64)?,
        None => 0,
    };
    let data_len = (row_bytes as u64)
        .checked_mul(rows as u64)
        .and_then(|n| n.checked_add(heap as u64))
        .and_then(|n| n.checked_add(data_start as u64))
        .filter(|&end| end <= usize::MAX as u64)
        .ok_or_else(|| table.bad("PCOUNT", "the table's size overflows"))?
        as usize
        - data_start;
    let need = data_start + data_len;
    if bytes.len() < need {
        return Err(FitsError::Truncated {
            path: path.clone(),
            have: bytes.len(),
            need,
        });
    }
    // The columns: a repeat count wider than the row would overflow the library's column arithmetic.
    for i in 1..=int("TFIELDS", 1..=999)? {
        let key = format!("TFORM{i}");
        let tform = table.string(&key).ok_or_else(|| table.missing(&key))?;
        let digits: String = tform.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && digits.parse::<i64>().map_or(true, |r| r > row_bytes) {
            return Err(table.bad(
                &key,
                &format!("'{tform}' is wider than the {row_bytes}-byte row"),
            ));
        }
    }
    // The library takes the heap to follow the main table, as fpack and astropy write it.
    if let Some(theap) = table.f64("THEAP")?
        && theap != (row_bytes * rows) as f64
    {
        return Err(table.bad("THEAP", "a gap between the table and its heap is not read"));
    }
    // The codecs whose decoders in fitskit 0.3 return errors on corrupt tiles; its HCOMPRESS_1 and PLIO_1 decoders
    // overflow (a panic with debug assertions, as in the fuzzer) on corrupt bit streams, so those are refused.
    let kind = table.string("ZCMPTYPE").unwrap_or_default();
    if !["RICE_1", "RICE_ONE", "GZIP_1", "GZIP_2"].contains(&kind.as_str()) {
        return Err(table.bad(
            "ZCMPTYPE",
            &format!("'{kind}' is not read (RICE_1, GZIP_1 and GZIP_2 are); uncompress it with funpack first"),
        ));
    }
    // The image's shape: what the library allocates from.
    let bitpix = int("ZBITPIX", -64..=64)?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err(table.bad("ZBITPIX", &format!("{bitpix} is not a FITS image type")));
    }
    let naxis = int("ZNAXIS", 2..=3)?;
    let (mut pixels, mut tiles) = (1u64, 1u64);
    for i in 1..=naxis {
        let side = if i <= 2 { MAX_SIDE } else { 1 };
        let n = int(&format!("ZNAXIS{i}"), 1..=side)?;
        // Tiles are whole rows unless ZTILEn says otherwise (FITS 4.0 section 10.1.1).
        let tile = match table.raw(&format!("ZTILE{i}")) {
            Some(_) => int(&format!("ZTILE{i}"), 1..=n)?,
            None if i == 1 => n,
            None => 1,
        };
        pixels *= n as u64;
        tiles *= (n as u64).div_ceil(tile as u64);
    }
    if tiles != rows as u64 {
        return Err(table.bad(
            "ZNAXIS1",
            &format!(
                "ZNAXISn and ZTILEn make {tiles} tiles, the table has {rows} rows (one per tile)"
            ),
        ));
    }
    if pixels > MAX_PIXELS_PER_BYTE * data_len as u64 {
        return Err(table.bad(
            "ZNAXIS1",
            &format!(
                "{pixels} pixels cannot come from {data_len} bytes of compressed data (at most {MAX_PIXELS_PER_BYTE} \
                 per byte)"
            ),
        ));
    }
    let library = |e: fitskit::Error| hdu_error(format!("tile-compressed image ({kind}): {e}"));
    let hdu = library_hdu(&table.values, &bytes[data_start..need]);
    let parsed = fitskit::Hdu::read_from(&mut Cursor::new(hdu)).map_err(library)?;
    let fitskit::HduData::BinTable(bintable) = &parsed.data else {
        return Err(table.bad("ZIMAGE", "T, but the HDU holds no table"));
    };
    let heap_at = (need - heap as usize) as u64;
    let descriptors = Descriptors {
        table: bintable,
        main_at: data_start as u64,
        heap_at,
    };
    if let Some(problem) = descriptors.first_outside_heap() {
        return Err(hdu_error(format!(
            "tile-compressed image ({kind}): {problem}"
        )));
    }
    let compressed = parsed
        .as_compressed_image()
        .ok_or_else(|| table.bad("ZIMAGE", "T, but the table is not a compressed image"))?;
    let image =
        compressed
            .decompress()
            .map_err(|e| match descriptors.first_bad_tile(&compressed) {
                Some(tile) => hdu_error(format!("tile-compressed image ({kind}): {tile}: {e}")),
                None => library(e),
            })?;
    let want = pixels as usize * (bitpix.unsigned_abs() as usize / 8);
    let data = image.pixels.to_bytes();
    if data.len() != want {
        return Err(hdu_error(format!(
            "tile-compressed image ({kind}) decompressed to {} bytes, ZBITPIX and ZNAXISn make {want}",
            data.len()
        )));
    }
    Ok((image_cards(&table.values), data))
}

/// The HDU as the library reads it: a header rendered from the cards checked here (so that both read the same
/// sizes; only the table's structure and the `Z*` keywords, which are all the decompression reads), then the data,
/// each padded to whole blocks.
fn library_hdu(cards: &HashMap<String, String>, data: &[u8]) -> Vec<u8> {
    const FIRST: [&str; 8] = [
        "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "TFIELDS",
    ];
    let mut rest: Vec<&String> = cards
        .keys()
        .filter(|k| {
            !FIRST.contains(&k.as_str())
                && (k.starts_with('Z') || k.starts_with("TTYPE") || k.starts_with("TFORM"))
        })
        .collect();
    rest.sort();
    let keys = FIRST.iter().copied().chain(rest.iter().map(|k| k.as_str()));
    let mut hdu: Vec<u8> = keys
        .filter_map(|k| {
            cards
                .get(k)
                .map(|v| format!("{:<80}", format!("{k:<8}= {v}")))
        })
        .chain([format!("{:<80}", "END")])
        .collect::<String>()
        .into_bytes();
    hdu.resize(hdu.len().div_ceil(BLOCK) * BLOCK, b' ');
    hdu.extend_from_slice(data);
    hdu.resize(hdu.len().div_ceil(BLOCK) * BLOCK, 0);
    hdu
}

/// The variable-length array descriptors of a compressed image's table (FITS 4.0 section 7.3.5): each cell of a
/// `P` or `Q` column is an element count and a heap offset, 32-bit or 64-bit big-endian integers.
struct Descriptors<'a> {
    table: &'a fitskit::BinTable,
    /// File offsets of the main table and of the heap.
    main_at: u64,
    heap_at: u64,
}

impl Descriptors<'_> {
    /// The heap offset and bytes of row `row`, column `column`, or why they are not in the heap.
    fn heap_bytes(&self, row: usize, column: usize) -> Result<(u64, &[u8]), String> {
        let (bytes, element) = match self.table.columns[column].format {
            fitskit::BinColumnType::VarP(t) => (4, t),
            fitskit::BinColumnType::VarQ(t) => (8, t),
            _ => return Ok((0, &[])),
        };
        let column_at: usize = self.table.columns[..column]
            .iter()
            .map(|c| c.format.byte_size())
            .sum();
        let at = self.main_at + (row * self.table.row_len + column_at) as u64;
        let name = self.table.columns[column].name.trim();
        let here = format!("tile {row}: the {name} descriptor at byte offset {at}");
        let cell = self
            .table
            .cell_bytes(row, column)
            .map_err(|e| format!("{here}: {e}"))?;
        let int = |b: &[u8]| -> i64 {
            if bytes == 4 {
                i32::from_be_bytes(b.try_into().unwrap_or_default()) as i64
            } else {
                i64::from_be_bytes(b.try_into().unwrap_or_default())
            }
        };
        let (count, offset) = (int(&cell[..bytes]), int(&cell[bytes..2 * bytes]));
        let size = match element {
            'L' | 'B' | 'A' => 1,
            'I' => 2,
            'J' | 'E' => 4,
            'K' | 'D' | 'C' => 8,
            'M' => 16,
            other => return Err(format!("{here}: element type '{other}' is not a FITS type")),
        };
        let heap = &self.table.heap;
        u64::try_from(count)
            .ok()
            .zip(u64::try_from(offset).ok())
            .and_then(|(c, o)| Some((o, o.checked_add(c.checked_mul(size)?)?)))
            .filter(|&(_, end)| end <= heap.len() as u64)
            .map(|(o, end)| (o, &heap[o as usize..end as usize]))
            .ok_or_else(|| {
                format!(
                    "{here}: {count} elements at heap offset {offset} are not inside the {}-byte heap at byte \
                     offset {}",
                    heap.len(),
                    self.heap_at
                )
            })
    }

    /// The first descriptor pointing outside the heap, in row order; the library trusts them.
    fn first_outside_heap(&self) -> Option<String> {
        (0..self.table.nrows)
            .flat_map(|row| (0..self.table.columns.len()).map(move |column| (row, column)))
            .find_map(|(row, column)| self.heap_bytes(row, column).err())
    }

    /// The first tile whose compressed bytes do not decode on their own (RICE_1, GZIP_1 and GZIP_2 tiles decoded
    /// one by one), as "tile N (its compressed bytes at byte offset X)"; `None` when every tile decodes (the fault
    /// is elsewhere, e.g. a ZSCALE column).
    fn first_bad_tile(&self, image: &fitskit::tile_compress::CompressedImage) -> Option<String> {
        use fitskit::tile_compress::{
            CompressionType, gzip_inflate, rice_decompress_i8, rice_decompress_i16,
            rice_decompress_i32,
        };
        let column = self
            .table
            .columns
            .iter()
            .position(|c| c.name.trim().eq_ignore_ascii_case("COMPRESSED_DATA"))?;
        let geometry = image.geometry();
        let per_axis = geometry.tiles_per_axis();
        for tile in 0..geometry.num_tiles() {
            // Its pixels: a full tile but at the image's far edges (FITS 4.0 section 10.1, axis 1 first).
            let (mut rest, mut pixels) = (tile, 1);
            for ((&n, &t), &count) in geometry.znaxis.iter().zip(&geometry.ztile).zip(&per_axis) {
                let i = rest % count.max(1);
                rest /= count.max(1);
                pixels *= t.min(n - i * t);
            }
            let (offset, bytes) = self.heap_bytes(tile, column).ok()?;
            let decoded = match image.compression() {
                CompressionType::Rice1 => match image.bytepix {
                    1 => rice_decompress_i8(bytes, pixels, image.blocksize).map(drop),
                    2 => rice_decompress_i16(bytes, pixels, image.blocksize).map(drop),
                    _ => rice_decompress_i32(bytes, pixels, image.blocksize).map(drop),
                },
                CompressionType::Gzip1 | CompressionType::Gzip2 => gzip_inflate(bytes).map(drop),
                _ => Ok(()),
            };
            if decoded.is_err() {
                return Some(format!(
                    "tile {tile} (its compressed bytes at byte offset {})",
                    self.heap_at + offset
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_z_keywords_map_back_and_the_table_keywords_go() {
        let table: HashMap<String, String> = [
            ("XTENSION", "'BINTABLE'"),
            ("BITPIX", "8"),
            ("NAXIS", "2"),
            ("NAXIS1", "8"),
            ("NAXIS2", "23"),
            ("PCOUNT", "999"),
            ("TFIELDS", "1"),
            ("TTYPE1", "'COMPRESSED_DATA'"),
            ("TFORM1", "'1PB(41)'"),
            ("ZIMAGE", "T"),
            ("ZCMPTYPE", "'RICE_1'"),
            ("ZBITPIX", "16"),
            ("ZNAXIS", "2"),
            ("ZNAXIS1", "37"),
            ("ZNAXIS2", "23"),
            ("ZTILE1", "37"),
            ("ZNAME1", "'BLOCKSIZE'"),
            ("ZVAL1", "32"),
            ("ZBLANK", "-32768"),
            ("BZERO", "32768"),
            ("TELESCOP", "'OGS'"),
            ("TIME-OBS", "'19:36:37'"),
            ("DATE-OBS", "'2002-07-26'"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cards = image_cards(&table);
        let want: HashMap<String, String> = [
            ("BITPIX", "16"),
            ("NAXIS", "2"),
            ("NAXIS1", "37"),
            ("NAXIS2", "23"),
            ("BLANK", "-32768"),
            ("BZERO", "32768"),
            ("TELESCOP", "'OGS'"),
            ("TIME-OBS", "'19:36:37'"),
            ("DATE-OBS", "'2002-07-26'"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(cards, want);
    }
}
