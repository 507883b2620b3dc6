//! Datastore paths (`[datastore] folder/file.vmdk`) and their HTTP URL under `/folder`, the
//! VDDK-free way to read a disk file.

use url::Url;

use crate::error::Error;

/// A parsed datastore path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatastorePath {
    pub datastore: String,
    /// The path inside the datastore, without a leading `/`.
    pub path: String,
}

impl DatastorePath {
    /// Parses `[datastore] folder/file.vmdk`; `None` when it has no `[datastore]` prefix.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.trim().strip_prefix('[')?;
        let (datastore, path) = rest.split_once(']')?;
        if datastore.is_empty() {
            return None;
        }
        Some(Self {
            datastore: datastore.to_owned(),
            path: path.trim().trim_start_matches('/').to_owned(),
        })
    }

    /// The data file of a flat VMDK: `vm/disk.vmdk` → `vm/disk-flat.vmdk` (the descriptor is
    /// the `.vmdk` the VM config names; the bytes are in `-flat.vmdk`).
    pub fn flat_file(&self) -> Self {
        let path = match self.path.strip_suffix(".vmdk") {
            Some(stem) if !stem.ends_with("-flat") => format!("{stem}-flat.vmdk"),
            _ => self.path.clone(),
        };
        Self {
            datastore: self.datastore.clone(),
            path,
        }
    }
}

impl std::fmt::Display for DatastorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.datastore, self.path)
    }
}

/// `https://HOST/folder/PATH?dcPath=DATACENTER&dsName=DATASTORE` for a file of a datastore.
/// `server` is the SDK URL or any URL of the host; `datacenter_path` is the datacenter's
/// inventory path (`DC0`, or `folder/DC0` when datacenters are in folders).
pub fn datastore_file_url(
    server: &Url,
    datacenter_path: &str,
    file: &DatastorePath,
) -> Result<Url, Error> {
    let mut url = server.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| Error::Config(format!("{server} cannot hold a datastore path")))?;
        segments.clear().push("folder");
        for part in file.path.split('/').filter(|p| !p.is_empty()) {
            segments.push(part);
        }
    }
    url.query_pairs_mut()
        .append_pair("dcPath", datacenter_path.trim_matches('/'))
        .append_pair("dsName", &file.datastore);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_datastore_paths() {
        let p = DatastorePath::parse("[LocalDS_0] vm1/vm1.vmdk").unwrap();
        assert_eq!(p.datastore, "LocalDS_0");
        assert_eq!(p.path, "vm1/vm1.vmdk");
        assert_eq!(p.flat_file().path, "vm1/vm1-flat.vmdk");
        assert_eq!(p.flat_file().flat_file().path, "vm1/vm1-flat.vmdk");
        assert_eq!(p.to_string(), "[LocalDS_0] vm1/vm1.vmdk");
        assert_eq!(DatastorePath::parse("vm1/vm1.vmdk"), None);
        assert_eq!(DatastorePath::parse("[] x"), None);
    }

    #[test]
    fn builds_folder_urls_with_escaping() {
        let server = Url::parse("https://127.0.0.1:8989/sdk").unwrap();
        let file = DatastorePath::parse("[data store] my vm/my vm-flat.vmdk").unwrap();
        let url = datastore_file_url(&server, "/Folder A/DC0", &file).unwrap();
        assert_eq!(
            url.as_str(),
            "https://127.0.0.1:8989/folder/my%20vm/my%20vm-flat.vmdk?dcPath=Folder+A%2FDC0&dsName=data+store"
        );
    }
}
