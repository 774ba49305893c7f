//! The few nf_tables messages on the start and exit path, sent in-process over
//! NETLINK_NETFILTER: adding and deleting elements of berth's port maps, deleting
//! berth's table, and listing table names.
//!
//! Written by hand, not with a crate: `nftnl`/`mnl` bind the C libnftnl (berth's
//! binary is static and has no libnftnl to link), and these messages are four
//! fixed shapes. Building the table itself (chains, rules with fib, concatenated
//! maps) stays with `nft -f`, which runs only when the table is new. Each `nft`
//! launch costs 4–15 ms here (loading libnftables and its cache), the kernel's work
//! a few microseconds.

use crate::ports::{PortMapping, Proto};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use std::net::Ipv4Addr;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NFPROTO_IPV4: u8 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;

#[derive(Debug, thiserror::Error)]
pub enum NfnlError {
    #[error("nftables netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("nftables refused {what}: {source}")]
    Refused {
        what: String,
        source: std::io::Error,
    },
    #[error("nftables: unexpected reply to {0}")]
    Garbled(String),
}

/// One element of a port map: the key (which host port) and the value (where
/// it goes), laid out as nf_tables concatenations: every field padded to 4 bytes,
/// ports in network byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortElement {
    pub map: &'static str,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

fn pad4(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out[..bytes.len()].copy_from_slice(bytes);
    out
}

fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The elements publishing `ports` to the container at `ip`: `ports` holds those
/// on every host address, `ports_ip` those bound to one.
pub fn port_elements(ip: Ipv4Addr, ports: &[PortMapping]) -> Vec<PortElement> {
    ports
        .iter()
        .map(|p| {
            let mut key = Vec::with_capacity(12);
            if let Some(h) = p.host_ip {
                key.extend(h.octets());
            }
            key.extend(pad4(&[proto_number(p.proto)]));
            key.extend(pad4(&p.host_port.to_be_bytes()));
            let mut value = ip.octets().to_vec();
            value.extend(pad4(&p.container_port.to_be_bytes()));
            PortElement {
                map: if p.host_ip.is_some() {
                    "ports_ip"
                } else {
                    "ports"
                },
                key,
                value,
            }
        })
        .collect()
}

/// A netlink message under construction.
struct Msg(Vec<u8>);

impl Msg {
    fn new(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut b = Vec::with_capacity(256);
        b.extend(0u32.to_ne_bytes()); // length, patched by finish
        b.extend(kind.to_ne_bytes());
        b.extend(flags.to_ne_bytes());
        b.extend(seq.to_ne_bytes());
        b.extend(0u32.to_ne_bytes());
        b.extend([family, 0]); // nfgenmsg: family, NFNETLINK_V0
        b.extend(res_id.to_be_bytes());
        Msg(b)
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        self.0.extend(((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend(kind.to_ne_bytes());
        self.0.extend(data);
        self.align();
    }

    fn str_attr(&mut self, kind: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data);
    }

    fn nest(&mut self, kind: u16, body: impl FnOnce(&mut Msg)) {
        let start = self.0.len();
        self.attr(kind | NLA_F_NESTED, &[]);
        body(self);
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn align(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn nft_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

pub struct Nfnl {
    socket: Socket,
    seq: u32,
}

impl Nfnl {
    pub fn open() -> Result<Self, NfnlError> {
        let socket = crate::rtnl::netlink_socket(NETLINK_NETFILTER).map_err(NfnlError::Socket)?;
        Ok(Nfnl { socket, seq: 0 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Sends `messages` (numbered here) as one transaction and waits for each one's verdict; the
    /// first refusal is returned (and the kernel applied none of them).
    fn transaction(&mut self, what: &str, messages: Vec<Msg>) -> Result<(), NfnlError> {
        let res_id = NFNL_SUBSYS_NFTABLES;
        let begin = self.next_seq();
        let mut batch = Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, begin, 0, res_id).finish();
        let first = begin + 1;
        let count = messages.len() as u32;
        for m in messages {
            let seq = self.next_seq();
            let mut m = m.finish();
            m[8..12].copy_from_slice(&seq.to_ne_bytes());
            batch.extend(m);
        }
        let end = self.next_seq();
        batch.extend(Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, 0, res_id).finish());
        self.socket.send(&batch, 0).map_err(NfnlError::Socket)?;
        let mut pending: Vec<u32> = (first..first + count).collect();
        let mut refusal = None;
        while !pending.is_empty() {
            let (reply, _) = self.socket.recv_from_full().map_err(NfnlError::Socket)?;
            for (kind, seq, payload) in split(&reply) {
                if kind != NLMSG_ERROR || payload.len() < 4 {
                    continue;
                }
                let code = i32::from_ne_bytes(payload[..4].try_into().unwrap_or_default());
                if seq == begin || seq == end {
                    // The batch as a whole was refused; nothing follows.
                    pending.clear();
                } else {
                    pending.retain(|s| *s != seq);
                }
                if code != 0 && refusal.is_none() {
                    refusal = Some(NfnlError::Refused {
                        what: what.into(),
                        source: std::io::Error::from_raw_os_error(-code),
                    });
                }
            }
        }
        refusal.map_or(Ok(()), Err)
    }

    fn element_msg(kind: u16, table: &str, e: &PortElement) -> Msg {
        let adding = kind == NFT_MSG_NEWSETELEM;
        let flags = NLM_F_REQUEST | NLM_F_ACK | if adding { NLM_F_CREATE } else { 0 };
        let mut m = Msg::new(nft_type(kind), flags, 0, NFPROTO_IPV4, 0);
        m.str_attr(NFTA_SET_ELEM_LIST_TABLE, table);
        m.str_attr(NFTA_SET_ELEM_LIST_SET, e.map);
        m.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |m| {
            m.nest(NFTA_LIST_ELEM, |m| {
                m.nest(NFTA_SET_ELEM_KEY, |m| m.attr(NFTA_DATA_VALUE, &e.key));
                if adding {
                    m.nest(NFTA_SET_ELEM_DATA, |m| m.attr(NFTA_DATA_VALUE, &e.value));
                }
            })
        });
        m
    }

    /// Adds the elements, all or none.
    pub fn add_elements(&mut self, table: &str, elements: &[PortElement]) -> Result<(), NfnlError> {
        self.elements(
            NFT_MSG_NEWSETELEM,
            "adding published ports",
            table,
            elements,
        )
    }

    /// Deletes the elements, all or none; one that is missing refuses the lot.
    pub fn delete_elements(
        &mut self,
        table: &str,
        elements: &[PortElement],
    ) -> Result<(), NfnlError> {
        self.elements(
            NFT_MSG_DELSETELEM,
            "removing published ports",
            table,
            elements,
        )
    }

    fn elements(
        &mut self,
        kind: u16,
        what: &str,
        table: &str,
        elements: &[PortElement],
    ) -> Result<(), NfnlError> {
        if elements.is_empty() {
            return Ok(());
        }
        let messages = elements
            .iter()
            .map(|e| Self::element_msg(kind, table, e))
            .collect();
        self.transaction(what, messages)
    }

    /// Deletes an `ip` table and all in it; a missing one is not an error.
    pub fn delete_table(&mut self, table: &str) -> Result<(), NfnlError> {
        let mut m = Msg::new(
            nft_type(NFT_MSG_DELTABLE),
            NLM_F_REQUEST | NLM_F_ACK,
            0,
            NFPROTO_IPV4,
            0,
        );
        m.str_attr(NFTA_TABLE_NAME, table);
        match self.transaction(&format!("deleting table ip {table}"), vec![m]) {
            Err(NfnlError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// The names of the host's `ip` tables.
    pub fn ip_tables(&mut self) -> Result<Vec<String>, NfnlError> {
        let seq = self.next_seq();
        let m = Msg::new(
            nft_type(NFT_MSG_GETTABLE),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            NFPROTO_IPV4,
            0,
        );
        self.socket
            .send(&m.finish(), 0)
            .map_err(NfnlError::Socket)?;
        let mut names = Vec::new();
        loop {
            let (reply, _) = self.socket.recv_from_full().map_err(NfnlError::Socket)?;
            for (kind, msg_seq, payload) in split(&reply) {
                if msg_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(names),
                    NLMSG_ERROR => return Err(NfnlError::Garbled("listing tables".into())),
                    _ => {
                        // nfgenmsg (4 bytes), then attributes.
                        if let Some(name) =
                            payload.get(4..).and_then(|a| find_attr(a, NFTA_TABLE_NAME))
                        {
                            names.push(
                                String::from_utf8_lossy(name)
                                    .trim_end_matches('\0')
                                    .to_string(),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The messages in one datagram, as (type, sequence, payload after the header).
fn split(mut buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes(buf[..4].try_into().unwrap_or_default()) as usize;
        if len < 16 || len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes(buf[8..12].try_into().unwrap_or_default());
        out.push((kind, seq, &buf[16..len]));
        buf = &buf[(len + 3) & !3..];
    }
    out
}

fn find_attr(mut attrs: &[u8], wanted: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & !NLA_F_NESTED;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == wanted {
            return Some(&attrs[4..len]);
        }
        attrs = &attrs[((len + 3) & !3).min(attrs.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_laid_out_as_nft_does() {
        // As `nft --debug=netlink` prints `tcp . 8080 : 10.0.0.2 . 80`
        // (`element 00000006 0000901f  : 0200000a 00005000`) and
        // `127.0.0.1 . udp . 5353 : 10.0.0.2 . 53`.
        let ports = crate::ports::sample_ports();
        let e = port_elements(Ipv4Addr::new(10, 0, 0, 2), &ports);
        assert_eq!(e[0].map, "ports");
        assert_eq!(e[0].key, [6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(e[0].value, [10, 0, 0, 2, 0, 80, 0, 0]);
        assert_eq!(e[1].map, "ports_ip");
        assert_eq!(e[1].key, [127, 0, 0, 1, 17, 0, 0, 0, 0x14, 0xe9, 0, 0]);
        assert_eq!(e[1].value, [10, 0, 0, 2, 0, 53, 0, 0]);
    }

    #[test]
    fn nested_attributes_carry_their_length() {
        let mut m = Msg::new(1, 0, 7, 2, 0);
        m.nest(3, |m| m.attr(1, &[1, 2, 3]));
        let b = m.finish();
        assert_eq!(
            u32::from_ne_bytes(b[..4].try_into().unwrap()) as usize,
            b.len()
        );
        // header 16 + nfgenmsg 4, then the nest: 4 + (4 + 3, padded to 8).
        assert_eq!(u16::from_ne_bytes([b[20], b[21]]), 12);
        assert_eq!(u16::from_ne_bytes([b[22], b[23]]), 3 | NLA_F_NESTED);
        assert_eq!(find_attr(&b[20..], 3).map(<[u8]>::len), Some(8));
    }
}
