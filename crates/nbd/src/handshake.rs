//! Fixed-newstyle negotiation as a sans-I/O state machine.
//!
//! The driver asks [`Handshake::next_step`] what to do: send some bytes, receive exactly `n` bytes and
//! hand them to [`Handshake::receive`], or stop with the negotiated [`ExportInfo`]. Options are
//! sent in the order the protocol requires: `STRUCTURED_REPLY`, then `SET_META_CONTEXT`
//! (`base:allocation`), then `GO` asking for `NBD_INFO_BLOCK_SIZE`; a server that does not know
//! `GO` gets the old `EXPORT_NAME`.

use crate::error::ProtocolError;
use crate::protocol::{
    DEFAULT_MAX_BLOCK, IHAVEOPT, NBD_MAGIC, OPTION_REPLY_MAGIC, TransmissionFlags, be_u16, be_u32,
    be_u64,
};

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;

const OPT_EXPORT_NAME: u32 = 1;
const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_SET_META_CONTEXT: u32 = 10;

const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_ERR_BIT: u32 = 1 << 31;
const REP_ERR_UNSUP: u32 = REP_ERR_BIT + 1;

const INFO_EXPORT: u16 = 0;
const INFO_BLOCK_SIZE: u16 = 3;

/// Longest option reply payload accepted: names and messages are at most 4 KiB by the spec.
const MAX_OPTION_REPLY: u32 = 64 * 1024;
/// Longest export name the protocol allows.
pub const MAX_EXPORT_NAME: usize = 4096;

pub const ALLOCATION_CONTEXT: &str = "base:allocation";

/// Block size constraints advertised by the server (or the protocol's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSize {
    pub minimum: u32,
    pub preferred: u32,
    pub maximum: u32,
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize {
            minimum: 1,
            preferred: 4096,
            maximum: DEFAULT_MAX_BLOCK,
        }
    }
}

/// What negotiation established about the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportInfo {
    pub size: u64,
    pub flags: TransmissionFlags,
    pub block_size: BlockSize,
    pub structured_replies: bool,
    /// The context id of `base:allocation`, when the server offers block status.
    pub allocation_context: Option<u32>,
}

impl ExportInfo {
    pub fn read_only(&self) -> bool {
        self.flags.has(TransmissionFlags::READ_ONLY)
    }
    pub fn can_flush(&self) -> bool {
        self.flags.has(TransmissionFlags::SEND_FLUSH)
    }
    pub fn can_trim(&self) -> bool {
        self.flags.has(TransmissionFlags::SEND_TRIM)
    }
    pub fn can_write_zeroes(&self) -> bool {
        self.flags.has(TransmissionFlags::SEND_WRITE_ZEROES)
    }
    pub fn can_cache(&self) -> bool {
        self.flags.has(TransmissionFlags::SEND_CACHE)
    }
    pub fn can_multi_conn(&self) -> bool {
        self.flags.has(TransmissionFlags::CAN_MULTI_CONN)
    }
    pub fn can_block_status(&self) -> bool {
        self.allocation_context.is_some()
    }
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Send(Vec<u8>),
    Receive(usize),
    Done(ExportInfo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    ReplyHeader { option: u32 },
    ReplyPayload { option: u32, kind: u32, length: u32 },
    ExportNameReply,
    Done,
}

#[derive(Debug)]
pub struct Handshake {
    export: String,
    want_allocation: bool,
    state: State,
    outgoing: Vec<u8>,
    no_zeroes: bool,
    structured_replies: bool,
    allocation_context: Option<u32>,
    export_size_flags: Option<(u64, u16)>,
    block_size: Option<BlockSize>,
}

impl Handshake {
    pub fn new(export: &str, want_allocation: bool) -> Result<Self, ProtocolError> {
        if export.len() > MAX_EXPORT_NAME {
            return Err(ProtocolError::TooLong {
                what: "export name",
                length: export.len() as u64,
                limit: MAX_EXPORT_NAME as u64,
            });
        }
        Ok(Handshake {
            export: export.to_owned(),
            want_allocation,
            state: State::Greeting,
            outgoing: Vec::new(),
            no_zeroes: false,
            structured_replies: false,
            allocation_context: None,
            export_size_flags: None,
            block_size: None,
        })
    }

    pub fn next_step(&mut self) -> Result<Step, ProtocolError> {
        if !self.outgoing.is_empty() {
            return Ok(Step::Send(std::mem::take(&mut self.outgoing)));
        }
        Ok(match self.state {
            State::Greeting => Step::Receive(18),
            State::ReplyHeader { .. } => Step::Receive(20),
            State::ReplyPayload { length, .. } => Step::Receive(length as usize),
            State::ExportNameReply => Step::Receive(if self.no_zeroes { 10 } else { 134 }),
            State::Done => Step::Done(self.export_info()?),
        })
    }

    /// Feeds exactly the number of bytes the last [`Step::Receive`] asked for.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        match self.state {
            State::Greeting => self.on_greeting(bytes),
            State::ReplyHeader { option } => self.on_reply_header(option, bytes),
            State::ReplyPayload {
                option,
                kind,
                length,
            } => {
                if bytes.len() != length as usize {
                    return Err(ProtocolError::Unexpected("short option reply payload"));
                }
                self.on_reply(option, kind, bytes)
            }
            State::ExportNameReply => self.on_export_name_reply(bytes),
            State::Done => Err(ProtocolError::Unexpected("data after negotiation finished")),
        }
    }

    fn on_greeting(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        if bytes.len() != 18 {
            return Err(ProtocolError::Unexpected("short greeting"));
        }
        let magic = be_u64(&bytes[0..8]);
        if magic != NBD_MAGIC {
            return Err(ProtocolError::BadMagic {
                found: magic,
                expected: "NBDMAGIC greeting",
            });
        }
        let second = be_u64(&bytes[8..16]);
        if second != IHAVEOPT {
            // The oldstyle greeting has the size here instead; we only speak newstyle.
            return Err(ProtocolError::BadMagic {
                found: second,
                expected: "IHAVEOPT newstyle greeting",
            });
        }
        let flags = be_u16(&bytes[16..18]);
        if flags & FLAG_FIXED_NEWSTYLE == 0 {
            return Err(ProtocolError::NotFixedNewstyle);
        }
        self.no_zeroes = flags & FLAG_NO_ZEROES != 0;
        let client_flags = u32::from(FLAG_FIXED_NEWSTYLE)
            | if self.no_zeroes {
                u32::from(FLAG_NO_ZEROES)
            } else {
                0
            };
        self.outgoing.extend_from_slice(&client_flags.to_be_bytes());
        self.send_option(OPT_STRUCTURED_REPLY, &[]);
        Ok(())
    }

    fn send_option(&mut self, option: u32, payload: &[u8]) {
        self.outgoing.extend_from_slice(&IHAVEOPT.to_be_bytes());
        self.outgoing.extend_from_slice(&option.to_be_bytes());
        self.outgoing
            .extend_from_slice(&(payload.len() as u32).to_be_bytes());
        self.outgoing.extend_from_slice(payload);
        self.state = State::ReplyHeader { option };
    }

    fn send_meta_context(&mut self) {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(self.export.len() as u32).to_be_bytes());
        payload.extend_from_slice(self.export.as_bytes());
        payload.extend_from_slice(&1u32.to_be_bytes());
        payload.extend_from_slice(&(ALLOCATION_CONTEXT.len() as u32).to_be_bytes());
        payload.extend_from_slice(ALLOCATION_CONTEXT.as_bytes());
        self.send_option(OPT_SET_META_CONTEXT, &payload);
    }

    fn send_go(&mut self) {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(self.export.len() as u32).to_be_bytes());
        payload.extend_from_slice(self.export.as_bytes());
        payload.extend_from_slice(&1u16.to_be_bytes());
        payload.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        self.send_option(OPT_GO, &payload);
    }

    fn on_reply_header(&mut self, option: u32, bytes: &[u8]) -> Result<(), ProtocolError> {
        if bytes.len() != 20 {
            return Err(ProtocolError::Unexpected("short option reply header"));
        }
        let magic = be_u64(&bytes[0..8]);
        if magic != OPTION_REPLY_MAGIC {
            return Err(ProtocolError::BadMagic {
                found: magic,
                expected: "option reply magic",
            });
        }
        let found = be_u32(&bytes[8..12]);
        if found != option {
            return Err(ProtocolError::WrongOption {
                found,
                expected: option,
            });
        }
        let kind = be_u32(&bytes[12..16]);
        let length = be_u32(&bytes[16..20]);
        if length > MAX_OPTION_REPLY {
            return Err(ProtocolError::TooLong {
                what: "option reply",
                length: u64::from(length),
                limit: u64::from(MAX_OPTION_REPLY),
            });
        }
        if length == 0 {
            self.on_reply(option, kind, &[])
        } else {
            self.state = State::ReplyPayload {
                option,
                kind,
                length,
            };
            Ok(())
        }
    }

    fn on_reply(&mut self, option: u32, kind: u32, payload: &[u8]) -> Result<(), ProtocolError> {
        match option {
            OPT_STRUCTURED_REPLY => match kind {
                REP_ACK => {
                    self.structured_replies = true;
                    if self.want_allocation {
                        self.send_meta_context();
                    } else {
                        self.send_go();
                    }
                    Ok(())
                }
                k if k & REP_ERR_BIT != 0 => {
                    self.send_go();
                    Ok(())
                }
                _ => Err(ProtocolError::Unexpected(
                    "unexpected reply to STRUCTURED_REPLY",
                )),
            },
            OPT_SET_META_CONTEXT => match kind {
                REP_META_CONTEXT => {
                    if payload.len() < 4 {
                        return Err(ProtocolError::Malformed("meta context reply"));
                    }
                    if &payload[4..] == ALLOCATION_CONTEXT.as_bytes() {
                        self.allocation_context = Some(be_u32(&payload[0..4]));
                    }
                    self.state = State::ReplyHeader { option };
                    Ok(())
                }
                REP_ACK => {
                    self.send_go();
                    Ok(())
                }
                k if k & REP_ERR_BIT != 0 => {
                    self.allocation_context = None;
                    self.send_go();
                    Ok(())
                }
                _ => Err(ProtocolError::Unexpected(
                    "unexpected reply to SET_META_CONTEXT",
                )),
            },
            OPT_GO => match kind {
                REP_INFO => {
                    self.on_info(payload)?;
                    self.state = State::ReplyHeader { option };
                    Ok(())
                }
                REP_ACK => {
                    if self.export_size_flags.is_none() {
                        return Err(ProtocolError::NoExportInfo);
                    }
                    self.state = State::Done;
                    Ok(())
                }
                REP_ERR_UNSUP => {
                    self.outgoing.extend_from_slice(&IHAVEOPT.to_be_bytes());
                    self.outgoing
                        .extend_from_slice(&OPT_EXPORT_NAME.to_be_bytes());
                    self.outgoing
                        .extend_from_slice(&(self.export.len() as u32).to_be_bytes());
                    self.outgoing.extend_from_slice(self.export.as_bytes());
                    self.state = State::ExportNameReply;
                    Ok(())
                }
                k if k & REP_ERR_BIT != 0 => Err(ProtocolError::OptionRefused {
                    option: "NBD_OPT_GO",
                    code: k,
                    reason: option_error_name(k),
                    message: String::from_utf8_lossy(payload).into_owned(),
                }),
                // Other reply types may come from future protocol extensions; ignore them.
                _ => {
                    self.state = State::ReplyHeader { option };
                    Ok(())
                }
            },
            _ => Err(ProtocolError::Unexpected("reply to an option never sent")),
        }
    }

    fn on_info(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        if payload.len() < 2 {
            return Err(ProtocolError::Malformed("info reply"));
        }
        match be_u16(&payload[0..2]) {
            INFO_EXPORT => {
                if payload.len() != 12 {
                    return Err(ProtocolError::Malformed("NBD_INFO_EXPORT"));
                }
                self.export_size_flags = Some((be_u64(&payload[2..10]), be_u16(&payload[10..12])));
            }
            INFO_BLOCK_SIZE => {
                if payload.len() != 14 {
                    return Err(ProtocolError::Malformed("NBD_INFO_BLOCK_SIZE"));
                }
                let block = BlockSize {
                    minimum: be_u32(&payload[2..6]),
                    preferred: be_u32(&payload[6..10]),
                    maximum: be_u32(&payload[10..14]),
                };
                if block.minimum == 0
                    || !block.minimum.is_power_of_two()
                    || block.minimum > 64 * 1024
                    || block.maximum < block.minimum
                {
                    return Err(ProtocolError::Malformed("block size constraints"));
                }
                self.block_size = Some(block);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_export_name_reply(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        if bytes.len() < 10 {
            return Err(ProtocolError::Unexpected("short EXPORT_NAME reply"));
        }
        self.export_size_flags = Some((be_u64(&bytes[0..8]), be_u16(&bytes[8..10])));
        self.state = State::Done;
        Ok(())
    }

    fn export_info(&self) -> Result<ExportInfo, ProtocolError> {
        let (size, flags) = self.export_size_flags.ok_or(ProtocolError::NoExportInfo)?;
        let mut flags = TransmissionFlags(flags);
        if !flags.has(TransmissionFlags::HAS_FLAGS) {
            flags = TransmissionFlags(0);
        }
        Ok(ExportInfo {
            size,
            flags,
            block_size: self.block_size.unwrap_or_default(),
            structured_replies: self.structured_replies,
            allocation_context: if self.structured_replies {
                self.allocation_context
            } else {
                None
            },
        })
    }
}

fn option_error_name(code: u32) -> &'static str {
    match code.wrapping_sub(REP_ERR_BIT) {
        1 => "unsupported",
        2 => "forbidden by policy",
        3 => "invalid",
        4 => "unsupported on this platform",
        5 => "TLS required",
        6 => "unknown export",
        7 => "server shutting down",
        8 => "block size negotiation required",
        9 => "request too big",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn greeting(flags: u16) -> Vec<u8> {
        let mut g = NBD_MAGIC.to_be_bytes().to_vec();
        g.extend_from_slice(&IHAVEOPT.to_be_bytes());
        g.extend_from_slice(&flags.to_be_bytes());
        g
    }

    fn option_reply(option: u32, kind: u32, payload: &[u8]) -> Vec<u8> {
        let mut r = OPTION_REPLY_MAGIC.to_be_bytes().to_vec();
        r.extend_from_slice(&option.to_be_bytes());
        r.extend_from_slice(&kind.to_be_bytes());
        r.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    /// Drives the handshake against a scripted server byte stream, collecting what we sent.
    fn run(
        hs: &mut Handshake,
        server: &[u8],
    ) -> Result<(Vec<u8>, Option<ExportInfo>), ProtocolError> {
        let mut sent = Vec::new();
        let mut pos = 0;
        loop {
            match hs.next_step()? {
                Step::Send(b) => sent.extend_from_slice(&b),
                Step::Receive(n) => {
                    if pos + n > server.len() {
                        return Ok((sent, None));
                    }
                    hs.receive(&server[pos..pos + n])?;
                    pos += n;
                }
                Step::Done(info) => return Ok((sent, Some(info))),
            }
        }
    }

    fn info_export(size: u64, flags: u16) -> Vec<u8> {
        let mut p = INFO_EXPORT.to_be_bytes().to_vec();
        p.extend_from_slice(&size.to_be_bytes());
        p.extend_from_slice(&flags.to_be_bytes());
        p
    }

    fn info_block_size(min: u32, pref: u32, max: u32) -> Vec<u8> {
        let mut p = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
        for v in [min, pref, max] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p
    }

    #[test]
    fn full_negotiation_with_block_status_and_block_size() {
        let mut server = greeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        server.extend(option_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]));
        let mut ctx = 7u32.to_be_bytes().to_vec();
        ctx.extend_from_slice(b"base:allocation");
        server.extend(option_reply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, &ctx));
        server.extend(option_reply(OPT_SET_META_CONTEXT, REP_ACK, &[]));
        server.extend(option_reply(
            OPT_GO,
            REP_INFO,
            &info_export(1 << 30, 0x0d6d),
        ));
        server.extend(option_reply(
            OPT_GO,
            REP_INFO,
            &info_block_size(512, 4096, 2 << 20),
        ));
        server.extend(option_reply(OPT_GO, 99, b"future"));
        server.extend(option_reply(OPT_GO, REP_ACK, &[]));

        let mut hs = Handshake::new("disk", true).unwrap();
        let (sent, info) = run(&mut hs, &server).unwrap();
        let info = info.unwrap();
        assert_eq!(info.size, 1 << 30);
        assert_eq!(info.allocation_context, Some(7));
        assert!(info.structured_replies);
        assert_eq!(info.block_size.maximum, 2 << 20);
        assert!(info.can_multi_conn() && info.can_flush() && !info.read_only());

        // client flags, then STRUCTURED_REPLY with no payload
        assert_eq!(&sent[0..4], &3u32.to_be_bytes());
        assert_eq!(&sent[4..12], &IHAVEOPT.to_be_bytes());
        assert_eq!(&sent[12..16], &OPT_STRUCTURED_REPLY.to_be_bytes());
        assert_eq!(&sent[16..20], &0u32.to_be_bytes());
        // SET_META_CONTEXT for export "disk" with one query
        assert_eq!(&sent[28..32], &OPT_SET_META_CONTEXT.to_be_bytes());
        let meta_len = 4 + 4 + 4 + 4 + 15;
        assert_eq!(&sent[32..36], &(meta_len as u32).to_be_bytes());
        assert_eq!(&sent[36..40], &4u32.to_be_bytes());
        assert_eq!(&sent[40..44], b"disk");
        assert_eq!(&sent[44..48], &1u32.to_be_bytes());
        assert_eq!(&sent[52..67], b"base:allocation");
        // GO asking for BLOCK_SIZE
        let go = &sent[36 + meta_len..];
        assert_eq!(&go[8..12], &OPT_GO.to_be_bytes());
        assert_eq!(&go[16..24], &[0, 0, 0, 4, b'd', b'i', b's', b'k']);
        assert_eq!(&go[24..28], &[0, 1, 0, 3]);
        assert_eq!(go.len(), 28);
    }

    #[test]
    fn falls_back_to_export_name_and_simple_replies() {
        let mut server = greeting(FLAG_FIXED_NEWSTYLE);
        server.extend(option_reply(OPT_STRUCTURED_REPLY, REP_ERR_UNSUP, &[]));
        server.extend(option_reply(OPT_GO, REP_ERR_UNSUP, &[]));
        server.extend_from_slice(&4096u64.to_be_bytes());
        server.extend_from_slice(&3u16.to_be_bytes());
        server.extend_from_slice(&[0u8; 124]);
        let mut hs = Handshake::new("", true).unwrap();
        let (sent, info) = run(&mut hs, &server).unwrap();
        let info = info.unwrap();
        assert_eq!(info.size, 4096);
        assert!(info.read_only());
        assert!(!info.structured_replies);
        assert_eq!(info.allocation_context, None);
        assert_eq!(&sent[0..4], &1u32.to_be_bytes());
        assert!(sent.ends_with(&[0, 0, 0, 1, 0, 0, 0, 0]));
    }

    #[test]
    fn reports_refused_export_with_server_message() {
        let mut server = greeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        server.extend(option_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]));
        server.extend(option_reply(OPT_GO, REP_ERR_BIT + 6, b"no such export"));
        let mut hs = Handshake::new("x", false).unwrap();
        let err = run(&mut hs, &server).unwrap_err();
        assert_eq!(
            err.to_string(),
            "server refused option NBD_OPT_GO: unknown export (0x80000006): no such export"
        );
    }

    #[test]
    fn rejects_non_fixed_newstyle_and_bad_magic() {
        let mut hs = Handshake::new("", false).unwrap();
        assert_eq!(
            run(&mut hs, &greeting(0)).unwrap_err(),
            ProtocolError::NotFixedNewstyle
        );
        let mut bad = greeting(1);
        bad[0] = 0;
        let mut hs = Handshake::new("", false).unwrap();
        assert!(matches!(
            run(&mut hs, &bad),
            Err(ProtocolError::BadMagic { .. })
        ));
    }

    #[test]
    fn rejects_huge_option_reply_before_allocating() {
        let mut server = greeting(FLAG_FIXED_NEWSTYLE);
        let mut hdr = option_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]);
        hdr[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        server.extend(hdr);
        let mut hs = Handshake::new("", false).unwrap();
        assert!(matches!(
            run(&mut hs, &server),
            Err(ProtocolError::TooLong { .. })
        ));
    }

    #[test]
    fn rejects_ack_without_export_info() {
        let mut server = greeting(FLAG_FIXED_NEWSTYLE);
        server.extend(option_reply(OPT_STRUCTURED_REPLY, REP_ACK, &[]));
        server.extend(option_reply(OPT_GO, REP_ACK, &[]));
        let mut hs = Handshake::new("", false).unwrap();
        assert_eq!(
            run(&mut hs, &server).unwrap_err(),
            ProtocolError::NoExportInfo
        );
    }

    proptest! {
        #[test]
        fn arbitrary_server_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512), want in any::<bool>()) {
            let mut server = greeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
            server.extend(tail);
            let mut hs = Handshake::new("e", want).unwrap();
            let _ = run(&mut hs, &server);
        }

        #[test]
        fn arbitrary_option_replies_never_panic(kinds in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..8)) {
            let mut server = greeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
            for option in [OPT_STRUCTURED_REPLY, OPT_SET_META_CONTEXT, OPT_GO] {
                for (kind, payload) in &kinds {
                    server.extend(option_reply(option, *kind, payload));
                }
            }
            let mut hs = Handshake::new("e", true).unwrap();
            let _ = run(&mut hs, &server);
        }
    }
}
