//! Plain-text tables for terminals: columns padded to their widest cell,
//! two spaces apart, the last column left as it is.

/// The width of each column over the header and every row.
pub(crate) fn widths<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> [usize; N] {
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths
}

/// One line: each cell but the last padded to its column's width.
pub(crate) fn line(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            line.push_str(cell);
        } else {
            let pad = width.saturating_sub(cell.chars().count());
            line.push_str(cell);
            line.push_str(&" ".repeat(pad + 2));
        }
    }
    line.trim_end().to_owned()
}

/// The header and the rows, one line each.
pub(crate) fn table<const N: usize>(header: [String; N], rows: &[[String; N]]) -> String {
    let widths = widths(&header, rows);
    std::iter::once(&header)
        .chain(rows)
        .map(|cells| line(cells, &widths))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let header = ["ID", "NAME", "NOTE"].map(str::to_owned);
        let rows =
            [["1", "långt namn", "x"].map(str::to_owned), ["22", "b", ""].map(str::to_owned)];
        assert_eq!(table(header, &rows), "ID  NAME        NOTE\n1   långt namn  x\n22  b");
    }
}
