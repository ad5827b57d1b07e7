//! Typed columns built in Rust without the GIL, then handed to Python as NumPy arrays (moved,
//! not copied) with an optional null mask, for the Python side to assemble into an Arrow table.

use numpy::{Element, IntoPyArray};
use pyo3::prelude::*;
use pyo3::types::PyList;

/// A column's values.
pub(crate) enum Data {
    I8(Vec<i8>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    F32(Vec<f32>),
}

/// A value type a column can hold.
pub(crate) trait Value: Copy + Default + Element {
    fn wrap(values: Vec<Self>) -> Data;
    /// The values, when `data` holds this type.
    fn values(data: &mut Data) -> Option<&mut Vec<Self>>;
}

macro_rules! value {
    ($t:ty, $v:ident) => {
        impl Value for $t {
            fn wrap(values: Vec<Self>) -> Data {
                Data::$v(values)
            }
            fn values(data: &mut Data) -> Option<&mut Vec<Self>> {
                match data {
                    Data::$v(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
value!(i8, I8);
value!(u8, U8);
value!(u16, U16);
value!(i32, I32);
value!(u32, U32);
value!(f32, F32);

/// One named column: values, and `mask[i] == true` where row `i` is null (`None` when no row is).
pub(crate) struct Column {
    name: String,
    data: Data,
    mask: Option<Vec<bool>>,
}

/// Columns of equal length, filled a block of rows at a time: each block pushes the same
/// columns in the same order ([`Table::next_block`] between blocks), so that a block of source
/// rows stays in cache while every column reads it.
pub(crate) struct Table {
    columns: Vec<Column>,
    /// Rows in all (the columns' capacity and the masks' length).
    rows: usize,
    /// The column the next push fills.
    next: usize,
}

impl Table {
    /// A table of `rows` rows in all.
    pub(crate) fn with_rows(rows: usize) -> Table {
        Table {
            columns: Vec::new(),
            rows,
            next: 0,
        }
    }

    /// The next block of rows starts: pushes fill the columns from the first again.
    pub(crate) fn next_block(&mut self) {
        self.next = 0;
    }

    /// Appends one optional value per row of the block to the next column (a null where `None`),
    /// creating the column in the first block.
    pub(crate) fn push<T: Value>(
        &mut self,
        name: &str,
        rows: impl ExactSizeIterator<Item = Option<T>>,
    ) {
        let i = self.next;
        self.next += 1;
        if i == self.columns.len() {
            self.columns.push(Column {
                name: name.to_string(),
                data: T::wrap(Vec::with_capacity(self.rows)),
                mask: None,
            });
        }
        let total = self.rows;
        let Column { data, mask, .. } = &mut self.columns[i];
        let Some(values) = T::values(data) else {
            // Invariant: every block pushes the same columns with the same types in the same
            // order (the table builders are straight-line code); a panic here is a bug, and
            // `guarded` turns it into an exception.
            panic!("column {name}: pushed with another type than in the first block");
        };
        let base = values.len();
        for (k, v) in rows.enumerate() {
            match v {
                Some(v) => values.push(v),
                None => {
                    // Allocated at the first null only: most columns have none.
                    let m = mask.get_or_insert_with(|| vec![false; total.max(base + k + 1)]);
                    if let Some(slot) = m.get_mut(base + k) {
                        *slot = true;
                    }
                    values.push(T::default());
                }
            }
        }
    }

    /// The columns as a Python list of `(name, values, mask or None)`.
    pub(crate) fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
        let out = PyList::empty(py);
        for c in self.columns {
            let values = match c.data {
                Data::I8(v) => v.into_pyarray(py).into_any(),
                Data::U8(v) => v.into_pyarray(py).into_any(),
                Data::U16(v) => v.into_pyarray(py).into_any(),
                Data::I32(v) => v.into_pyarray(py).into_any(),
                Data::U32(v) => v.into_pyarray(py).into_any(),
                Data::F32(v) => v.into_pyarray(py).into_any(),
            };
            let mask = c.mask.map(|m| m.into_pyarray(py));
            out.append((c.name, values, mask))?;
        }
        Ok(out)
    }
}
