//! An independent model of a binary plist's object graph for the
//! `plist_load` target (`bplist00` as CoreFoundation's CFBinaryPList.c and
//! Python's plistlib read it; written from the format, not from gw or the
//! plist crate): what the document expands to — values and keys, UTF-8 text
//! bytes, nesting depth — counted over the graph with memoization, so a
//! "billion laughs" costs nothing to measure, and what gw must refuse in it:
//! a reference cycle, a duplicate or non-string dictionary key, an ASCII
//! string object holding a byte above 0x7F (in any object of the offset
//! table). It never builds the value. `None` when the model cannot read the
//! document (it then makes no claim).
#![allow(dead_code)]

/// What a binary plist expands to, and what in it gw must refuse.
#[derive(Debug, Default)]
pub(crate) struct Expansion {
    /// Values and keys, every reference counted (saturating).
    pub nodes: u128,
    /// UTF-8 bytes of every string and key, every reference counted.
    pub text: u128,
    /// Arrays and dictionaries nested (a scalar is 0).
    pub depth: usize,
    /// An object that contains itself.
    pub cycle: bool,
    /// A dictionary with the same key twice.
    pub duplicate_key: bool,
    /// A dictionary key that is not a string.
    pub non_string_key: bool,
    /// An ASCII string object (marker `0x5_`) with a byte above 0x7F.
    pub non_ascii: bool,
}

struct Graph<'a> {
    data: &'a [u8],
    trailer: usize,
    ref_size: usize,
    offsets: Vec<usize>,
    /// Per object: `Some((nodes, text, depth))` once counted.
    memo: Vec<Option<(u128, u128, usize)>>,
    on_path: Vec<bool>,
    out: Expansion,
}

enum Object {
    Scalar,
    Str(String),
    Array(Vec<usize>),
    Dict(Vec<usize>, Vec<usize>),
}

fn be(s: &[u8]) -> u64 {
    s.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

/// The model's reading of `data`, or `None`.
pub(crate) fn expansion(data: &[u8]) -> Option<Expansion> {
    if !data.starts_with(b"bplist00") || data.len() < 40 {
        return None;
    }
    let trailer = data.len() - 32;
    let t = &data[trailer..];
    let (offset_size, ref_size) = (usize::from(t[6]), usize::from(t[7]));
    if ![1, 2, 3, 4, 8].contains(&offset_size) || ![1, 2, 3, 4, 8].contains(&ref_size) {
        return None;
    }
    let count = usize::try_from(be(&t[8..16])).ok()?;
    let top = usize::try_from(be(&t[16..24])).ok()?;
    let table = usize::try_from(be(&t[24..32])).ok()?;
    let end = count.checked_mul(offset_size)?.checked_add(table)?;
    if end > trailer || top >= count {
        return None;
    }
    let offsets: Vec<usize> =
        data[table..end].chunks(offset_size).map(|c| usize::try_from(be(c)).unwrap_or(usize::MAX)).collect();
    let mut g = Graph {
        data,
        trailer,
        ref_size,
        memo: vec![None; count],
        on_path: vec![false; count],
        offsets,
        out: Expansion::default(),
    };
    // Every object of the table is read once, reachable or not: reading an
    // ASCII string object marks a byte above 0x7F.
    for i in 0..count {
        let _ = g.object(i);
    }
    let (nodes, text, depth) = g.count(top, 0)?;
    g.out.nodes = nodes;
    g.out.text = text;
    g.out.depth = depth;
    Some(g.out)
}

impl Graph<'_> {
    /// A length: the low nibble, or (nibble 0xF) an integer object after
    /// the marker whose size is 2^(its low two bits). Returns the length
    /// and where the content starts.
    fn len(&self, at: usize, nibble: u8) -> Option<(usize, usize)> {
        if nibble != 0x0f {
            return Some((usize::from(nibble), at + 1));
        }
        let width = 1usize << (self.data.get(at + 1)? & 0x03);
        let len = usize::try_from(be(self.data.get(at + 2..at + 2 + width)?)).ok()?;
        Some((len, at + 2 + width))
    }

    /// `len` items of `size` bytes from `start`, all before the trailer.
    fn span(&self, start: usize, len: usize, size: usize) -> Option<&[u8]> {
        let end = start.checked_add(len.checked_mul(size)?)?;
        (end <= self.trailer).then(|| &self.data[start..end])
    }

    fn refs(&self, s: &[u8]) -> Vec<usize> {
        s.chunks(self.ref_size).map(|c| usize::try_from(be(c)).unwrap_or(usize::MAX)).collect()
    }

    /// Object `i`: `Ok(None)` for a type the model does not follow, `Err`
    /// when unreadable.
    fn object(&mut self, i: usize) -> Result<Option<Object>, ()> {
        let at = *self.offsets.get(i).ok_or(())?;
        if at >= self.trailer {
            return Err(());
        }
        let marker = self.data[at];
        let (high, low) = (marker >> 4, marker & 0x0f);
        Ok(Some(match high {
            0x0 if low == 8 || low == 9 => Object::Scalar,
            0x1 if low <= 4 => Object::Scalar,
            0x2 if low == 2 || low == 3 => Object::Scalar,
            0x5 => {
                let (len, start) = self.len(at, low).ok_or(())?;
                let s = self.span(start, len, 1).ok_or(())?.to_vec();
                if !s.is_ascii() {
                    self.out.non_ascii = true;
                }
                Object::Str(String::from_utf8(s).map_err(|_| ())?)
            }
            0x6 => {
                let (len, start) = self.len(at, low).ok_or(())?;
                let s = self.span(start, len, 2).ok_or(())?;
                let units: Vec<u16> = s.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                Object::Str(String::from_utf16(&units).map_err(|_| ())?)
            }
            0xA => {
                let (len, start) = self.len(at, low).ok_or(())?;
                Object::Array(self.refs(self.span(start, len, self.ref_size).ok_or(())?))
            }
            0xD => {
                let (len, start) = self.len(at, low).ok_or(())?;
                let keys = self.refs(self.span(start, len, self.ref_size).ok_or(())?);
                let values = self.refs(self.span(start + len * self.ref_size, len, self.ref_size).ok_or(())?);
                Object::Dict(keys, values)
            }
            _ => return Ok(None),
        }))
    }

    /// (values and keys, text bytes, depth) of object `i`, expanded.
    fn count(&mut self, i: usize, path: usize) -> Option<(u128, u128, usize)> {
        if let Some(done) = *self.memo.get(i)? {
            return Some(done);
        }
        if self.on_path[i] {
            self.out.cycle = true;
            return Some((0, 0, 0));
        }
        if path > 10_000 {
            return None;
        }
        let result = match self.object(i).ok()?? {
            Object::Scalar => (1, 0, 0),
            Object::Str(s) => (1, s.len() as u128, 0),
            Object::Array(children) => {
                self.on_path[i] = true;
                let mut sum = (1u128, 0u128, 0usize);
                for c in children {
                    let (n, t, d) = self.count(c, path + 1)?;
                    sum = (sum.0.saturating_add(n), sum.1.saturating_add(t), sum.2.max(d));
                }
                self.on_path[i] = false;
                (sum.0, sum.1, sum.2 + 1)
            }
            Object::Dict(keys, values) => {
                self.on_path[i] = true;
                let mut seen = std::collections::HashSet::new();
                let mut sum = (1u128, 0u128, 0usize);
                for k in &keys {
                    match self.object(*k).ok()? {
                        Some(Object::Str(s)) => {
                            if !seen.insert(s) {
                                self.out.duplicate_key = true;
                            }
                        }
                        _ => self.out.non_string_key = true,
                    }
                }
                for c in keys.into_iter().chain(values) {
                    let (n, t, d) = self.count(c, path + 1)?;
                    sum = (sum.0.saturating_add(n), sum.1.saturating_add(t), sum.2.max(d));
                }
                self.on_path[i] = false;
                (sum.0, sum.1, sum.2 + 1)
            }
        };
        self.memo[i] = Some(result);
        Some(result)
    }
}
