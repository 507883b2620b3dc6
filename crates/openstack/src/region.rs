//! Which catalog region a cloud's `region_name` means. The original collection never used the
//! region (its documented examples say `regionOne` for clouds whose Keystone says `RegionOne`),
//! so a name that differs only in case, or any name in a catalog with a single region, selects
//! that region with a warning instead of failing every call. A name that matches nothing in a
//! catalog of several regions is kept, and the first call says which regions the catalog offers.

use std::collections::BTreeSet;

use crate::auth::Catalog;

/// The region endpoints are taken from, and why it is not the configured name when it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionChoice {
    /// None: endpoints of any region.
    pub region: Option<String>,
    pub warning: Option<String>,
}

impl Catalog {
    /// The distinct regions of the catalog's endpoints, sorted.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.services
            .iter()
            .flat_map(|s| &s.endpoints)
            .filter_map(|e| e.region_id.as_deref().or(e.region.as_deref()))
            .collect()
    }

    pub fn choose_region(&self, wanted: Option<&str>) -> RegionChoice {
        let kept = RegionChoice {
            region: wanted.map(str::to_owned),
            warning: None,
        };
        let Some(wanted) = wanted else {
            return kept;
        };
        let named =
            self.services.iter().flat_map(|s| &s.endpoints).any(|e| {
                e.region.as_deref() == Some(wanted) || e.region_id.as_deref() == Some(wanted)
            });
        if named {
            return kept;
        }
        let regions = self.regions();
        let same_but_case: Vec<&str> = regions
            .iter()
            .copied()
            .filter(|r| r.eq_ignore_ascii_case(wanted))
            .collect();
        let (region, why) = match (same_but_case.as_slice(), regions.len()) {
            ([region], _) => (*region, "which differs from it only in case"),
            ([], 1) => match regions.first() {
                Some(region) => (*region, "the catalog's only region"),
                None => return kept,
            },
            _ => return kept,
        };
        RegionChoice {
            region: Some(region.to_owned()),
            warning: Some(format!(
                "region_name {wanted:?} is not in the service catalog; using region {region:?}, {why} \
                 (set region_name: {region} to silence this warning)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{CatalogEndpoint, CatalogService};

    fn catalog(regions: &[&str]) -> Catalog {
        Catalog {
            services: vec![CatalogService {
                service_type: "compute".into(),
                name: None,
                endpoints: regions
                    .iter()
                    .map(|r| CatalogEndpoint {
                        interface: "public".into(),
                        region: Some((*r).to_owned()),
                        region_id: Some((*r).to_owned()),
                        url: format!("https://{r}.example.org:8774/v2.1"),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn the_configured_region_is_kept_when_the_catalog_names_it() {
        let two = catalog(&["RegionOne", "RegionTwo"]);
        for wanted in [None, Some("RegionOne"), Some("RegionTwo")] {
            assert_eq!(
                two.choose_region(wanted),
                RegionChoice {
                    region: wanted.map(str::to_owned),
                    warning: None
                }
            );
        }
    }

    #[test]
    fn a_region_differing_only_in_case_is_used_with_a_warning() {
        let choice = catalog(&["RegionOne", "RegionTwo"]).choose_region(Some("regionOne"));
        assert_eq!(choice.region.as_deref(), Some("RegionOne"));
        let warning = choice.warning.expect("a warning");
        assert!(
            warning.contains("\"regionOne\"") && warning.contains("only in case"),
            "{warning}"
        );
        assert!(warning.contains("region_name: RegionOne"), "{warning}");
    }

    #[test]
    fn any_name_selects_the_only_region_with_a_warning() {
        let choice = catalog(&["RegionOne", "RegionOne"]).choose_region(Some("RegionNowhere"));
        assert_eq!(choice.region.as_deref(), Some("RegionOne"));
        let warning = choice.warning.expect("a warning");
        assert!(warning.contains("only region"), "{warning}");
    }

    #[test]
    fn no_match_among_several_regions_or_two_case_matches_stays_unresolved() {
        let choice = catalog(&["RegionOne", "RegionTwo"]).choose_region(Some("RegionNowhere"));
        assert_eq!(choice.region.as_deref(), Some("RegionNowhere"));
        assert_eq!(choice.warning, None);
        let choice = catalog(&["REGIONONE", "RegionOne"]).choose_region(Some("regionone"));
        assert_eq!(choice.region.as_deref(), Some("regionone"));
        assert_eq!(choice.warning, None);
    }
}
