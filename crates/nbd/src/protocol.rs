//! Wire format of the NBD transmission phase: request encoding, reply and chunk decoding.
//!
//! Pure functions over byte slices; the I/O driver decides when to read how many bytes.
//! Every length taken from the wire is checked against a limit before anything is allocated.

use crate::error::ProtocolError;

pub const NBD_MAGIC: u64 = 0x4e42_444d_4147_4943;
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
pub const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

pub const REQUEST_LEN: usize = 28;
/// Bytes after the 4-byte magic of a simple reply.
pub const SIMPLE_REPLY_REST: usize = 12;
/// Bytes after the 4-byte magic of a structured reply chunk header.
pub const CHUNK_HEADER_REST: usize = 16;

/// Largest metadata chunk (block status, error) accepted. A block-status answer for a 128 MiB
/// range at 512-byte granularity is 2 MiB; anything above this limit is hostile.
pub const MAX_METADATA_CHUNK: u32 = 4 << 20;

/// The limit the protocol recommends when a server advertises no maximum block size.
pub const DEFAULT_MAX_BLOCK: u32 = 32 << 20;

/// Transmission flags advertised by the server for an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransmissionFlags(pub u16);

impl TransmissionFlags {
    pub const HAS_FLAGS: u16 = 1 << 0;
    pub const READ_ONLY: u16 = 1 << 1;
    pub const SEND_FLUSH: u16 = 1 << 2;
    pub const SEND_FUA: u16 = 1 << 3;
    pub const ROTATIONAL: u16 = 1 << 4;
    pub const SEND_TRIM: u16 = 1 << 5;
    pub const SEND_WRITE_ZEROES: u16 = 1 << 6;
    pub const SEND_DF: u16 = 1 << 7;
    pub const CAN_MULTI_CONN: u16 = 1 << 8;
    pub const SEND_RESIZE: u16 = 1 << 9;
    pub const SEND_CACHE: u16 = 1 << 10;
    pub const SEND_FAST_ZERO: u16 = 1 << 11;

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag == flag
    }
}

/// Command types of the transmission phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Command {
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Read => "read",
            Command::Write => "write",
            Command::Disconnect => "disconnect",
            Command::Flush => "flush",
            Command::Trim => "trim",
            Command::Cache => "cache",
            Command::WriteZeroes => "write-zeroes",
            Command::BlockStatus => "block-status",
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Command flags.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
pub const CMD_FLAG_DF: u16 = 1 << 2;
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;
pub const CMD_FLAG_FAST_ZERO: u16 = 1 << 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub command: Command,
    pub handle: u64,
    pub offset: u64,
    pub length: u32,
}

impl Request {
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        out[4..6].copy_from_slice(&self.flags.to_be_bytes());
        out[6..8].copy_from_slice(&(self.command as u16).to_be_bytes());
        out[8..16].copy_from_slice(&self.handle.to_be_bytes());
        out[16..24].copy_from_slice(&self.offset.to_be_bytes());
        out[24..28].copy_from_slice(&self.length.to_be_bytes());
        out
    }
}

/// What the first four bytes of a reply announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Simple,
    Structured,
}

pub fn decode_reply_magic(bytes: [u8; 4]) -> Result<ReplyKind, ProtocolError> {
    match u32::from_be_bytes(bytes) {
        SIMPLE_REPLY_MAGIC => Ok(ReplyKind::Simple),
        STRUCTURED_REPLY_MAGIC => Ok(ReplyKind::Structured),
        other => Err(ProtocolError::BadMagic {
            found: u64::from(other),
            expected: "reply magic",
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleReply {
    pub error: u32,
    pub handle: u64,
}

impl SimpleReply {
    pub fn decode(rest: &[u8; SIMPLE_REPLY_REST]) -> Self {
        SimpleReply {
            error: be_u32(&rest[0..4]),
            handle: be_u64(&rest[4..12]),
        }
    }
}

pub const CHUNK_FLAG_DONE: u16 = 1 << 0;

/// Structured reply chunk types.
pub const CHUNK_NONE: u16 = 0;
pub const CHUNK_OFFSET_DATA: u16 = 1;
pub const CHUNK_OFFSET_HOLE: u16 = 2;
pub const CHUNK_BLOCK_STATUS: u16 = 5;
pub const CHUNK_ERROR_BIT: u16 = 1 << 15;
pub const CHUNK_ERROR: u16 = CHUNK_ERROR_BIT + 1;
pub const CHUNK_ERROR_OFFSET: u16 = CHUNK_ERROR_BIT + 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub flags: u16,
    pub kind: u16,
    pub handle: u64,
    pub length: u32,
}

impl ChunkHeader {
    pub fn decode(rest: &[u8; CHUNK_HEADER_REST]) -> Self {
        ChunkHeader {
            flags: be_u16(&rest[0..2]),
            kind: be_u16(&rest[2..4]),
            handle: be_u64(&rest[4..12]),
            length: be_u32(&rest[12..16]),
        }
    }

    pub fn is_done(&self) -> bool {
        self.flags & CHUNK_FLAG_DONE != 0
    }
}

/// One extent of the `base:allocation` context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub length: u32,
    pub flags: u32,
}

/// `base:allocation` flags.
pub const STATE_HOLE: u32 = 1 << 0;
pub const STATE_ZERO: u32 = 1 << 1;

impl Extent {
    /// Reads as zeroes: no need to copy its bytes.
    pub fn is_zero(&self) -> bool {
        self.flags & STATE_ZERO != 0
    }
    pub fn is_hole(&self) -> bool {
        self.flags & STATE_HOLE != 0
    }
}

/// Decodes a `NBD_REPLY_TYPE_BLOCK_STATUS` payload into its context id and extents.
pub fn decode_block_status(payload: &[u8]) -> Result<(u32, Vec<Extent>), ProtocolError> {
    if payload.len() < 12 || (payload.len() - 4) % 8 != 0 {
        return Err(ProtocolError::Malformed("block status chunk length"));
    }
    let context = be_u32(&payload[0..4]);
    let extents = payload[4..]
        .chunks_exact(8)
        .map(|pair| Extent {
            length: be_u32(&pair[0..4]),
            flags: be_u32(&pair[4..8]),
        })
        .collect();
    Ok((context, extents))
}

/// Decodes an `NBD_REPLY_TYPE_OFFSET_HOLE` payload into (offset, length).
pub fn decode_offset_hole(payload: &[u8]) -> Result<(u64, u32), ProtocolError> {
    if payload.len() != 12 {
        return Err(ProtocolError::Malformed("offset hole chunk length"));
    }
    Ok((be_u64(&payload[0..8]), be_u32(&payload[8..12])))
}

/// An error chunk: the errno the server reports, its message and, for ERROR_OFFSET, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorChunk {
    pub errno: u32,
    pub message: String,
    pub offset: Option<u64>,
}

pub fn decode_error_chunk(kind: u16, payload: &[u8]) -> Result<ErrorChunk, ProtocolError> {
    if payload.len() < 6 {
        return Err(ProtocolError::Malformed("error chunk length"));
    }
    let errno = be_u32(&payload[0..4]);
    let message_len = usize::from(be_u16(&payload[4..6]));
    let rest = &payload[6..];
    if message_len > rest.len() {
        return Err(ProtocolError::Malformed("error chunk message length"));
    }
    let message = String::from_utf8_lossy(&rest[..message_len]).into_owned();
    let offset = if kind == CHUNK_ERROR_OFFSET {
        if rest.len() != message_len + 8 {
            return Err(ProtocolError::Malformed("error offset chunk length"));
        }
        Some(be_u64(&rest[message_len..]))
    } else {
        None
    };
    Ok(ErrorChunk {
        errno,
        message,
        offset,
    })
}

/// Protocol errno values, named for messages.
pub fn errno_name(errno: u32) -> &'static str {
    match errno {
        1 => "EPERM",
        5 => "EIO",
        12 => "ENOMEM",
        22 => "EINVAL",
        28 => "ENOSPC",
        75 => "EOVERFLOW",
        95 => "ENOTSUP",
        108 => "ESHUTDOWN",
        _ => "unknown error",
    }
}

pub(crate) fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
pub(crate) fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
pub(crate) fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_read_request_as_the_spec_lays_it_out() {
        let req = Request {
            flags: CMD_FLAG_FUA,
            command: Command::Read,
            handle: 0x0102_0304_0506_0708,
            offset: 0x1000,
            length: 0x20000,
        };
        let expected: [u8; 28] = [
            0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0,
            0, 0x10, 0x00, 0x00, 0x02, 0x00, 0x00,
        ];
        assert_eq!(req.encode(), expected);
    }

    #[test]
    fn decodes_reply_magics() {
        assert_eq!(
            decode_reply_magic([0x67, 0x44, 0x66, 0x98]).unwrap(),
            ReplyKind::Simple
        );
        assert_eq!(
            decode_reply_magic([0x66, 0x8e, 0x33, 0xef]).unwrap(),
            ReplyKind::Structured
        );
        assert!(decode_reply_magic([0, 0, 0, 0]).is_err());
    }

    #[test]
    fn decodes_chunk_header() {
        let rest = [0, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 20];
        let h = ChunkHeader::decode(&rest);
        assert!(h.is_done());
        assert_eq!(h.kind, CHUNK_BLOCK_STATUS);
        assert_eq!(h.handle, 9);
        assert_eq!(h.length, 20);
    }

    #[test]
    fn decodes_block_status_payload() {
        let payload = [
            0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0,
        ];
        let (ctx, ext) = decode_block_status(&payload).unwrap();
        assert_eq!(ctx, 1);
        assert_eq!(
            ext,
            vec![
                Extent {
                    length: 4096,
                    flags: 3
                },
                Extent {
                    length: 65536,
                    flags: 0
                }
            ]
        );
        assert!(ext[0].is_zero() && ext[0].is_hole());
        assert!(decode_block_status(&payload[..8]).is_err());
        assert!(decode_block_status(&payload[..13]).is_err());
    }

    #[test]
    fn decodes_error_chunks() {
        let payload = [0, 0, 0, 5, 0, 2, b'n', b'o'];
        let e = decode_error_chunk(CHUNK_ERROR, &payload).unwrap();
        assert_eq!(
            e,
            ErrorChunk {
                errno: 5,
                message: "no".into(),
                offset: None
            }
        );
        let mut with_offset = payload.to_vec();
        with_offset.extend_from_slice(&77u64.to_be_bytes());
        let e = decode_error_chunk(CHUNK_ERROR_OFFSET, &with_offset).unwrap();
        assert_eq!(e.offset, Some(77));
        assert!(decode_error_chunk(CHUNK_ERROR, &[0, 0, 0, 5, 0, 9, b'x']).is_err());
        assert!(decode_error_chunk(CHUNK_ERROR_OFFSET, &payload).is_err());
    }

    proptest! {
        #[test]
        fn chunk_payload_decoders_never_panic(kind in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_block_status(&payload);
            let _ = decode_offset_hole(&payload);
            let _ = decode_error_chunk(kind, &payload);
        }

        #[test]
        fn request_roundtrips_through_bytes(flags in any::<u16>(), handle in any::<u64>(), offset in any::<u64>(), length in any::<u32>()) {
            let bytes = Request { flags, command: Command::Write, handle, offset, length }.encode();
            prop_assert_eq!(be_u32(&bytes[0..4]), REQUEST_MAGIC);
            prop_assert_eq!(be_u16(&bytes[4..6]), flags);
            prop_assert_eq!(be_u64(&bytes[8..16]), handle);
            prop_assert_eq!(be_u64(&bytes[16..24]), offset);
            prop_assert_eq!(be_u32(&bytes[24..28]), length);
        }
    }
}
