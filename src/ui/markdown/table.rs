//! Tables: the cells collected while the table is parsed, then drawn with
//! box borders, the columns sized by display width and narrowed to fit,
//! each cell wrapped inside its column.
//!
//! Invariants: every cell is sanitised before it is measured; widths are
//! display widths (a CJK character takes two columns), so the borders line
//! up as the terminal draws them; a table wider than the screen loses
//! columns from its widest column first, never below one.

use pulldown_cmark::Alignment;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::rows::{Run, runs_line};
use crate::text::sanitize::sanitize;
use crate::text::wrap::{display_width, wrap_line};
use crate::ui::theme;

/// A table being parsed: the rows so far, the open row and cell.
#[derive(Debug, Default)]
pub(super) struct TableBuilder {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<String>>,
    cell: String,
    row: Vec<String>,
    header_rows: usize,
}

impl TableBuilder {
    pub(super) fn new(aligns: Vec<Alignment>) -> Self {
        Self {
            aligns,
            ..Self::default()
        }
    }

    /// Text (or inline code) of the open cell.
    pub(super) fn push_text(&mut self, text: &str) {
        self.cell.push_str(text);
    }

    pub(super) fn start_row(&mut self) {
        self.row.clear();
    }

    pub(super) fn start_cell(&mut self) {
        self.cell.clear();
    }

    pub(super) fn end_cell(&mut self) {
        let cell = std::mem::take(&mut self.cell);
        self.row.push(cell.trim().to_string());
    }

    pub(super) fn end_row(&mut self) {
        let row = std::mem::take(&mut self.row);
        self.rows.push(row);
    }

    /// The header row ends: the rows so far are drawn bold.
    pub(super) fn end_head(&mut self) {
        self.end_row();
        self.header_rows = self.rows.len();
    }

    /// Draws the table into `out` at `width` columns, each row after
    /// `prefix`; false (nothing drawn) when it has no columns.
    pub(super) fn draw(self, out: &mut Vec<Line<'static>>, prefix: &[Run], width: usize) -> bool {
        let outer: usize = prefix.iter().map(|(t, _)| display_width(t)).sum();
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return false;
        }
        let cells = self.cells(columns);
        // Borders take 3 columns per cell plus 1.
        let budget = width.saturating_sub(outer + 3 * columns + 1).max(columns);
        let widths = column_widths(&cells, columns, budget);
        let border = |left: &str, mid: &str, right: &str| {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            let mut runs = prefix.to_vec();
            runs.push((format!("{left}{}{right}", parts.join(mid)), theme::dim()));
            runs_line(runs)
        };
        out.push(border("┌", "┬", "┐"));
        for (r, row) in cells.iter().enumerate() {
            let style = if r < self.header_rows {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            self.draw_row(out, row, &widths, style, prefix);
            if r + 1 == self.header_rows && cells.len() > self.header_rows {
                out.push(border("├", "┼", "┤"));
            }
        }
        out.push(border("└", "┴", "┘"));
        true
    }

    /// Every row with `columns` cells (missing ones empty), sanitised.
    fn cells(&self, columns: usize) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                (0..columns)
                    .map(|i| sanitize(r.get(i).map_or("", String::as_str)).into_string())
                    .collect()
            })
            .collect()
    }

    /// One table row: as many screen rows as its tallest wrapped cell.
    fn draw_row(
        &self,
        out: &mut Vec<Line<'static>>,
        row: &[String],
        widths: &[usize],
        style: Style,
        prefix: &[Run],
    ) {
        let wrapped: Vec<Vec<String>> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| {
                wrap_line(cell, *w)
                    .into_iter()
                    .filter_map(|range| cell.get(range).map(str::to_string))
                    .collect()
            })
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for line in 0..height {
            let mut runs = prefix.to_vec();
            for (c, (lines, w)) in wrapped.iter().zip(widths).enumerate() {
                let text = lines.get(line).map_or("", String::as_str);
                let pad = w.saturating_sub(display_width(text));
                let (left, right) = match self.aligns.get(c) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                runs.push(("│ ".to_string(), theme::dim()));
                runs.push((
                    format!("{}{text}{} ", " ".repeat(left), " ".repeat(right)),
                    style,
                ));
            }
            runs.push(("│".to_string(), theme::dim()));
            out.push(runs_line(runs));
        }
    }
}

/// Each column as wide as its widest cell (at least 1), then the widest
/// narrowed one column at a time until they fit in `budget`.
fn column_widths(cells: &[Vec<String>], columns: usize, budget: usize) -> Vec<usize> {
    let mut widths: Vec<usize> = (0..columns)
        .map(|i| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| display_width(c)))
                .max()
                .unwrap_or(0)
                .max(1)
        })
        .collect();
    while widths.iter().sum::<usize>() > budget {
        let Some((i, _)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if let Some(w) = widths.get_mut(i) {
            if *w <= 1 {
                break;
            }
            *w -= 1;
        }
    }
    widths
}
