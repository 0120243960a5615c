//! The event envelope encoding of ABI v1, shared by events, emits and HTTP
//! messages:
//!
//! ```text
//! attribute*  0x00  data
//! attribute := name_len u8 (1..255) | name | value_len u32 LE | value
//! ```

use crate::Error;

/// Appends one attribute. The name must be 1 to 255 bytes.
pub fn put_attr(buf: &mut Vec<u8>, name: &str, value: &[u8]) -> Result<(), Error> {
    if name.is_empty() || name.len() > 255 || value.len() > u32::MAX as usize {
        return Err(Error::Malformed);
    }
    buf.push(name.len() as u8);
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value);
    Ok(())
}

/// Appends the terminator and the data: the last call for an envelope.
pub fn put_data(buf: &mut Vec<u8>, data: &[u8]) {
    buf.push(0);
    buf.extend_from_slice(data);
}

/// A checked envelope: its attributes and its data.
#[derive(Clone, Copy)]
pub struct Envelope<'a> {
    attrs: &'a [u8],
    data: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Checks and splits an envelope: the layout, UTF-8 names and values.
    /// Names given twice are checked by [`Envelope::check_unique`].
    pub fn decode(b: &'a [u8]) -> Result<Envelope<'a>, Error> {
        let mut i = 0usize;
        loop {
            if i >= b.len() {
                return Err(Error::Malformed); // no terminator
            }
            let nl = b[i] as usize;
            if nl == 0 {
                break;
            }
            if b.len() - i - 1 < nl + 4 {
                return Err(Error::Malformed);
            }
            i += 1 + nl;
            let vl = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
            i += 4;
            if vl > b.len() - i {
                return Err(Error::Malformed);
            }
            i += vl;
        }
        let attrs = &b[..i];
        // UTF-8: one pass over the whole attribute block when it is ASCII
        // (lengths under 128 included), the usual case; otherwise each name
        // and value on its own. Checking each short string on its own costs
        // several times more per call.
        if !attrs.is_ascii() {
            let mut rest = attrs;
            while !rest.is_empty() {
                let nl = rest[0] as usize;
                let vl = u32::from_le_bytes([rest[1 + nl], rest[2 + nl], rest[3 + nl], rest[4 + nl]]) as usize;
                let (name, value) = (&rest[1..1 + nl], &rest[5 + nl..5 + nl + vl]);
                if std::str::from_utf8(name).is_err() || std::str::from_utf8(value).is_err() {
                    return Err(Error::Malformed);
                }
                rest = &rest[5 + nl + vl..];
            }
        }
        Ok(Envelope { attrs, data: &b[i + 1..] })
    }

    /// Fails when a name appears twice, except names starting with
    /// `repeatable` (`header.` in HTTP messages) when given.
    pub fn check_unique(&self, repeatable: Option<&str>) -> Result<(), Error> {
        let all: Vec<(&str, &str)> = self.attrs().collect();
        for (k, (name, _)) in all.iter().enumerate() {
            if let Some(p) = repeatable {
                if name.starts_with(p) {
                    continue;
                }
            }
            if all[..k].iter().any(|(n, _)| n == name) {
                return Err(Error::Malformed);
            }
        }
        Ok(())
    }

    /// The attributes, in order.
    pub fn attrs(&self) -> Attrs<'a> {
        Attrs { rest: self.attrs }
    }

    /// The first value of the attribute called name.
    pub fn attr(&self, name: &str) -> Option<&'a str> {
        self.attrs().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every byte after the terminator.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// An iterator over the (name, value) attributes of an [`Envelope`].
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // The layout and UTF-8 were checked by Envelope::decode.
        let b = self.rest;
        if b.is_empty() {
            return None;
        }
        let nl = b[0] as usize;
        let name = &b[1..1 + nl];
        let i = 1 + nl;
        let vl = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let value = &b[i + 4..i + 4 + vl];
        self.rest = &b[i + 4 + vl..];
        Some((std::str::from_utf8(name).unwrap_or(""), std::str::from_utf8(value).unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = Vec::new();
        put_attr(&mut b, "type", b"t").unwrap();
        put_attr(&mut b, "header.x", b"1").unwrap();
        put_attr(&mut b, "header.x", b"2").unwrap();
        put_data(&mut b, b"\x00data");
        let e = Envelope::decode(&b).unwrap();
        assert_eq!(e.attr("type"), Some("t"));
        assert_eq!(e.attrs().count(), 3);
        assert_eq!(e.data(), b"\x00data");
        assert!(e.check_unique(Some("header.")).is_ok());
        assert_eq!(e.check_unique(None), Err(Error::Malformed));
    }

    #[test]
    fn malformed() {
        for b in [&b""[..], b"\x04type", b"\x04type\x05\x00\x00\x00abc\x00", b"\x01t\x01\x00\x00\x00\xff\x00"] {
            assert_eq!(Envelope::decode(b).err(), Some(Error::Malformed), "{:?}", b);
        }
        assert_eq!(put_attr(&mut Vec::new(), "", b""), Err(Error::Malformed));
    }

    #[test]
    fn utf8_past_the_ascii_pass() {
        // Not ASCII: accented text, and a value of 200 bytes (a length byte
        // of 0xc8); each name and value is then checked on its own.
        let long = "v".repeat(200);
        let mut b = Vec::new();
        put_attr(&mut b, "type", "é".as_bytes()).unwrap();
        put_attr(&mut b, "long", long.as_bytes()).unwrap();
        put_data(&mut b, b"\xff");
        let e = Envelope::decode(&b).unwrap();
        assert_eq!(e.attr("type"), Some("é"));
        assert_eq!(e.attr("long"), Some(long.as_str()));
        assert_eq!(e.data(), b"\xff");
        // Invalid UTF-8 in a name after a long value, and in a value.
        let mut bad = Vec::new();
        put_attr(&mut bad, "long", long.as_bytes()).unwrap();
        bad.extend_from_slice(b"\x02t\xff\x01\x00\x00\x00x");
        put_data(&mut bad, b"");
        assert_eq!(Envelope::decode(&bad).err(), Some(Error::Malformed));
        let mut bad = Vec::new();
        put_attr(&mut bad, "type", b"\xc3").unwrap();
        put_data(&mut bad, b"");
        assert_eq!(Envelope::decode(&bad).err(), Some(Error::Malformed));
    }
}
