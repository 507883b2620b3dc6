//! Which Nova server this conversion host is: the volumes are attached to it.

use std::time::Duration;

use openstack::Client;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result, Step};
use crate::request::ConversionHostId;

/// The metadata service answers at once on a cloud instance; elsewhere nothing answers.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn server_id(cloud: &Client, id: &ConversionHostId) -> Result<String> {
    let (metadata_url, server_name) = match id {
        ConversionHostId::Uuid(uuid) => return Ok(uuid.clone()),
        ConversionHostId::Discover {
            metadata_url,
            server_name,
        } => (metadata_url, server_name),
    };
    let from_metadata = tokio::time::timeout(METADATA_TIMEOUT, uuid_from_metadata(metadata_url))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {METADATA_TIMEOUT:?}")));
    match (from_metadata, server_name) {
        (Ok(uuid), _) => Ok(uuid),
        (Err(_), Some(name)) => {
            let server = openstack::nova::servers::find(cloud, name).await.step(|| {
                format!("cannot find the conversion host's server {name:?} (convhostname)")
            })?;
            Ok(server.id)
        }
        (Err(why), None) => Err(Error::Refused(format!(
            "cannot tell which Nova server this conversion host is: the metadata service \
             {metadata_url} gave no uuid ({why}); set instanceuuid (or convhostname)"
        ))),
    }
}

#[derive(Deserialize)]
struct MetaData {
    uuid: String,
}

/// `GET meta_data.json` over plain HTTP, as the metadata service speaks it.
async fn uuid_from_metadata(metadata_url: &str) -> std::result::Result<String, String> {
    let url = url::Url::parse(metadata_url).map_err(|e| format!("bad URL: {e}"))?;
    if url.scheme() != "http" {
        return Err("only http:// metadata URLs are supported".into());
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("not an HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    serde_json::from_str::<MetaData>(body)
        .map(|m| m.uuid)
        .map_err(|e| format!("meta_data.json without a uuid: {e}"))
}
