//! Where bytes come from. A source hands out readers, one per worker; a reader starts reads
//! and block-status queries and reports each completion on the worker's channel.

use std::sync::Mutex;
use std::sync::mpsc::Sender;

use nbd::{ConnectOptions, Connection, NbdUri};

use crate::buffer::Buffer;
use crate::error::Failure;

/// A run of bytes with one allocation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    /// Reads as zeroes: nothing to read.
    pub zero: bool,
}

/// The outcome of a request started by a [`SourceReader`].
pub enum Completion {
    Read {
        offset: u64,
        buf: Buffer,
        result: Result<(), Failure>,
    },
    /// Extents from `offset` on; they may cover less than the `length` asked for.
    Extents {
        offset: u64,
        length: u64,
        result: Result<Vec<Extent>, Failure>,
    },
}

pub trait Source: Send + Sync {
    fn size(&self) -> u64;
    /// How many readers may work at once (one unless the server allows several connections).
    fn max_readers(&self) -> usize;
    /// Largest single read.
    fn max_request(&self) -> u32;
    /// Whether [`SourceReader::extents`] tells allocated from zero blocks.
    fn has_extents(&self) -> bool;
    fn open_reader(
        &self,
        completions: Sender<Completion>,
    ) -> Result<Box<dyn SourceReader>, Failure>;
}

pub trait SourceReader: Send {
    /// Starts reading `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, buf: Buffer);
    /// Starts asking which parts of `[offset, offset+length)` hold data.
    fn extents(&mut self, offset: u64, length: u64);
    /// Replaces a lost connection. Call only when no request is in flight.
    fn reconnect(&mut self) -> Result<(), Failure>;
}

/// An NBD export read over one or more connections.
pub struct NbdSource {
    uri: NbdUri,
    options: ConnectOptions,
    info: nbd::ExportInfo,
    /// The connection opened to learn the export's properties, handed to the first reader.
    first: Mutex<Option<Connection>>,
}

impl NbdSource {
    /// Every connection (this one, readers', reconnects) is made with `options`.
    pub fn connect(uri: &NbdUri, options: &ConnectOptions) -> Result<Self, Failure> {
        let connection = Connection::connect_with(uri, options)?;
        Ok(NbdSource {
            uri: uri.clone(),
            options: options.clone(),
            info: *connection.info(),
            first: Mutex::new(Some(connection)),
        })
    }

    pub fn info(&self) -> &nbd::ExportInfo {
        &self.info
    }
}

impl Source for NbdSource {
    fn size(&self) -> u64 {
        self.info.size
    }

    fn max_readers(&self) -> usize {
        if self.info.can_multi_conn() {
            usize::MAX
        } else {
            1
        }
    }

    fn max_request(&self) -> u32 {
        self.info.block_size.maximum
    }

    fn has_extents(&self) -> bool {
        self.info.can_block_status()
    }

    fn open_reader(
        &self,
        completions: Sender<Completion>,
    ) -> Result<Box<dyn SourceReader>, Failure> {
        let reused = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let connection = match reused {
            Some(c) => c,
            None => Connection::connect_with(&self.uri, &self.options)?,
        };
        Ok(Box::new(NbdReader {
            uri: self.uri.clone(),
            options: self.options.clone(),
            connection,
            completions,
        }))
    }
}

struct NbdReader {
    uri: NbdUri,
    options: ConnectOptions,
    connection: Connection,
    completions: Sender<Completion>,
}

impl SourceReader for NbdReader {
    fn read(&mut self, offset: u64, buf: Buffer) {
        let tx = self.completions.clone();
        self.connection
            .submit_read(offset, buf, move |buf, result| {
                // The worker outlives its requests; a send error only means it already gave up.
                let _ = tx.send(Completion::Read {
                    offset,
                    buf,
                    result: result.map_err(Failure::from),
                });
            });
    }

    fn extents(&mut self, offset: u64, length: u64) {
        let tx = self.completions.clone();
        let asked = length.min(u64::from(nbd::MAX_NON_PAYLOAD_REQUEST)) as u32;
        self.connection
            .submit_block_status(offset, asked, move |result| {
                let result = result.map_err(Failure::from).map(|list| {
                    let mut at = offset;
                    list.into_iter()
                        .map(|e| {
                            let extent = Extent {
                                offset: at,
                                length: u64::from(e.length),
                                zero: e.is_zero(),
                            };
                            at += u64::from(e.length);
                            extent
                        })
                        .collect()
                });
                let _ = tx.send(Completion::Extents {
                    offset,
                    length,
                    result,
                });
            });
    }

    fn reconnect(&mut self) -> Result<(), Failure> {
        let fresh = Connection::connect_with(&self.uri, &self.options)?;
        if fresh.size() != self.connection.size() {
            return Err(Failure::permanent(format!(
                "the export changed size from {} to {} bytes",
                self.connection.size(),
                fresh.size()
            )));
        }
        self.connection = fresh;
        Ok(())
    }
}
