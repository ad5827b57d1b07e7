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
}

macro_rules! value {
    ($t:ty, $v:ident) => {
        impl Value for $t {
            fn wrap(values: Vec<Self>) -> Data {
                Data::$v(values)
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

/// Columns of equal length.
#[derive(Default)]
pub(crate) struct Table {
    columns: Vec<Column>,
}

impl Table {
    /// Adds a column from one optional value per row (a null where `None`).
    pub(crate) fn push<T: Value>(
        &mut self,
        name: impl Into<String>,
        rows: impl ExactSizeIterator<Item = Option<T>>,
    ) {
        let n = rows.len();
        let mut values = Vec::with_capacity(n);
        // Allocated at the first null only: most columns have none.
        let mut mask: Option<Vec<bool>> = None;
        for (i, v) in rows.enumerate() {
            match v {
                Some(v) => values.push(v),
                None => {
                    mask.get_or_insert_with(|| vec![false; n])[i] = true;
                    values.push(T::default());
                }
            }
        }
        self.columns.push(Column {
            name: name.into(),
            data: T::wrap(values),
            mask,
        });
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
