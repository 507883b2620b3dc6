//! Byte areas of a disk: validation, merging and splitting into work ranges.

use serde::{Deserialize, Serialize};

/// A byte range `[start, start + length)`, as vSphere's changed-area lists give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Area {
    pub start: u64,
    pub length: u64,
}

impl Area {
    pub fn new(start: u64, length: u64) -> Self {
        Area { start, length }
    }

    pub fn end(&self) -> u64 {
        self.start + self.length
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AreaError {
    #[error("area at offset {start} length {length} ends beyond the disk size {size}")]
    BeyondEnd { start: u64, length: u64, size: u64 },
}

/// Sorts, drops empty areas and merges overlapping or touching ones. Areas must lie inside
/// `size`: a changed-area list that does not fit the disk means the wrong disk.
pub fn normalize(areas: &[Area], size: u64) -> Result<Vec<Area>, AreaError> {
    let mut sorted: Vec<Area> = Vec::with_capacity(areas.len());
    for area in areas.iter().filter(|a| a.length > 0) {
        if area
            .start
            .checked_add(area.length)
            .is_none_or(|end| end > size)
        {
            return Err(AreaError::BeyondEnd {
                start: area.start,
                length: area.length,
                size,
            });
        }
        sorted.push(*area);
    }
    sorted.sort_unstable();
    let mut merged: Vec<Area> = Vec::with_capacity(sorted.len());
    for area in sorted {
        match merged.last_mut() {
            Some(last) if area.start <= last.end() => {
                last.length = last.end().max(area.end()) - last.start;
            }
            _ => merged.push(area),
        }
    }
    Ok(merged)
}

/// Cuts normalized areas into consecutive pieces of at most `max` bytes.
pub fn split(areas: &[Area], max: u64) -> Vec<Area> {
    let max = max.max(1);
    let mut out = Vec::new();
    for area in areas {
        let mut start = area.start;
        while start < area.end() {
            let length = (area.end() - start).min(max);
            out.push(Area { start, length });
            start += length;
        }
    }
    out
}

pub fn total_length(areas: &[Area]) -> u64 {
    areas.iter().map(|a| a.length).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_overlapping_and_touching_areas() {
        let areas = [
            Area::new(100, 10),
            Area::new(0, 50),
            Area::new(50, 10),
            Area::new(105, 20),
            Area::new(200, 0),
        ];
        assert_eq!(
            normalize(&areas, 1000).unwrap(),
            vec![Area::new(0, 60), Area::new(100, 25)]
        );
    }

    #[test]
    fn rejects_areas_beyond_the_disk() {
        assert!(normalize(&[Area::new(990, 11)], 1000).is_err());
        assert!(normalize(&[Area::new(u64::MAX, 2)], 1000).is_err());
        assert!(normalize(&[Area::new(990, 10)], 1000).is_ok());
    }

    #[test]
    fn splits_into_bounded_pieces() {
        assert_eq!(
            split(&[Area::new(10, 25), Area::new(100, 5)], 10),
            vec![
                Area::new(10, 10),
                Area::new(20, 10),
                Area::new(30, 5),
                Area::new(100, 5)
            ]
        );
    }

    fn covered(areas: &[Area], size: u64) -> Vec<bool> {
        let mut bits = vec![false; size as usize];
        for a in areas {
            for b in &mut bits[a.start as usize..a.end() as usize] {
                *b = true;
            }
        }
        bits
    }

    proptest! {
        #[test]
        fn normalize_keeps_exactly_the_same_bytes_sorted_and_disjoint(
            raw in proptest::collection::vec((0u64..500, 0u64..100), 0..30)
        ) {
            let size = 600;
            let areas: Vec<Area> = raw.iter().map(|&(s, l)| Area::new(s, l)).collect();
            let merged = normalize(&areas, size).unwrap();
            prop_assert_eq!(covered(&merged, size), covered(&areas, size));
            for pair in merged.windows(2) {
                prop_assert!(pair[0].end() < pair[1].start, "disjoint and not touching");
            }
            prop_assert!(merged.iter().all(|a| a.length > 0));
        }

        #[test]
        fn split_preserves_bytes_and_bounds_pieces(
            raw in proptest::collection::vec((0u64..500, 0u64..100), 0..30),
            max in 1u64..64
        ) {
            let size = 600;
            let areas: Vec<Area> = raw.iter().map(|&(s, l)| Area::new(s, l)).collect();
            let merged = normalize(&areas, size).unwrap();
            let pieces = split(&merged, max);
            prop_assert!(pieces.iter().all(|p| p.length > 0 && p.length <= max));
            prop_assert_eq!(total_length(&pieces), total_length(&merged));
            prop_assert_eq!(covered(&pieces, size), covered(&merged, size));
        }
    }
}
