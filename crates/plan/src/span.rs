//! Byte spans into a plan's source text and their line/column positions.

use serde::{Deserialize, Serialize};

/// A byte range `start..end` in the source text a plan was parsed from.
///
/// Plans built in memory or read from JSON carry empty spans at offset 0.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets. Offsets beyond `u32::MAX` saturate; sources
    /// are limited to [`crate::MAX_SOURCE_BYTES`] long before that.
    pub fn new(start: usize, end: usize) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span { start: clamp(start), end: clamp(end.max(start)) }
    }

    /// The span of `part`, a subslice of `line`, where `line` starts at byte
    /// `line_start` of the source.
    pub(crate) fn of_subslice(line_start: usize, line: &str, part: &str) -> Self {
        let offset = part.as_ptr() as usize - line.as_ptr() as usize;
        Span::new(line_start + offset, line_start + offset + part.len())
    }

    /// Start as `usize`.
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// End as `usize`.
    pub fn end(self) -> usize {
        self.end as usize
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// The spans of a list field's entries (`deps`, `files`), parallel to the
/// list, read as a slice. Up to three are kept inline, without an
/// allocation: nearly every task lists that few, and these were two of the
/// allocations every parsed task made.
#[derive(Clone)]
pub struct SpanList(Spans);

#[derive(Clone)]
enum Spans {
    Inline(u8, [Span; INLINE_SPANS]),
    Heap(Vec<Span>),
}

const INLINE_SPANS: usize = 3;

impl SpanList {
    /// An empty list.
    pub fn new() -> Self {
        SpanList(Spans::Inline(0, [Span::default(); INLINE_SPANS]))
    }

    /// Appends a span.
    pub fn push(&mut self, span: Span) {
        match &mut self.0 {
            Spans::Inline(len, items) if usize::from(*len) < INLINE_SPANS => {
                items[usize::from(*len)] = span;
                *len += 1;
            }
            Spans::Inline(_, items) => {
                let mut heap = Vec::with_capacity(2 * INLINE_SPANS);
                heap.extend_from_slice(items);
                heap.push(span);
                self.0 = Spans::Heap(heap);
            }
            Spans::Heap(heap) => heap.push(span),
        }
    }
}

impl Default for SpanList {
    fn default() -> Self {
        SpanList::new()
    }
}

impl std::ops::Deref for SpanList {
    type Target = [Span];

    fn deref(&self) -> &[Span] {
        match &self.0 {
            Spans::Inline(len, items) => &items[..usize::from(*len)],
            Spans::Heap(heap) => heap,
        }
    }
}

impl PartialEq for SpanList {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SpanList {}

impl std::fmt::Debug for SpanList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl From<Vec<Span>> for SpanList {
    fn from(spans: Vec<Span>) -> Self {
        let mut list = SpanList::new();
        for span in spans {
            list.push(span);
        }
        list
    }
}

/// A 1-based line and column. Columns count Unicode scalar values, so a
/// tab or an emoji is one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

/// Where each line starts, for turning byte offsets into positions in
/// O(log lines).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<u32>,
    len: u32,
}

impl LineIndex {
    /// Indexes `text`. Lines end at `\n`; a `\r` before it belongs to the line.
    pub fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        // Eight bytes at a time (the parser's line search): a byte loop
        // was most of the time to show a large plan's warnings.
        let mut from = 0;
        while let Some(newline) = crate::parse::next_newline(text.as_bytes(), from) {
            starts.push(u32::try_from(newline + 1).unwrap_or(u32::MAX));
            from = newline + 1;
        }
        LineIndex { starts, len: u32::try_from(text.len()).unwrap_or(u32::MAX) }
    }

    /// Number of lines (a trailing newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// 0-based line containing byte `offset` (clamped to the text).
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX).min(self.len);
        match self.starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Byte offset where 0-based `line` starts.
    pub fn line_start(&self, line: usize) -> usize {
        self.starts.get(line).map_or(self.len as usize, |&s| s as usize)
    }

    /// Byte offset one past the end of 0-based `line`, including its newline.
    pub fn line_end(&self, line: usize) -> usize {
        self.starts.get(line + 1).map_or(self.len as usize, |&s| s as usize)
    }

    /// The position of byte `offset` in `text` (the text this index was
    /// built from).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let line = self.line_of(offset);
        let start = self.line_start(line);
        let column = text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        Position {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_lists_read_as_slices_inline_or_not() {
        let spans: Vec<Span> = (0..7).map(|i| Span::new(i, i + 1)).collect();
        for n in 0..=spans.len() {
            let list = SpanList::from(spans[..n].to_vec());
            assert_eq!(&*list, &spans[..n]);
            assert_eq!(list, SpanList::from(spans[..n].to_vec()));
            assert_eq!(format!("{list:?}"), format!("{:?}", &spans[..n]));
        }
        assert_ne!(SpanList::from(spans[..2].to_vec()), SpanList::from(spans[..3].to_vec()));
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\nçd\n\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.position(text, 0), Position { line: 1, column: 1 });
        assert_eq!(index.position(text, 4), Position { line: 2, column: 2 });
        assert_eq!(index.position(text, 7), Position { line: 3, column: 1 });
        assert_eq!(index.position(text, 8), Position { line: 4, column: 1 });
        assert_eq!(index.position(text, 99), Position { line: 4, column: 2 });
        for text in ["", "\n", "a\n", "\n\n", "0123456789\nabcdefghij\n\nlast", "x\r\ny"] {
            let expected: Vec<usize> =
                std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
            let index = LineIndex::new(text);
            assert_eq!(index.line_count(), expected.len(), "{text:?}");
            for (line, &start) in expected.iter().enumerate() {
                assert_eq!(index.line_start(line), start, "{text:?}");
            }
        }
    }
}
