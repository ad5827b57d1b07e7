//! Per-game frame tables in Apache Parquet: one row per frame per player with the raw fighter
//! fields, the controller and its target classes, readable by pandas, polars and pyarrow without
//! exphil.
//!
//! Rows are sorted by player, then frame: all of the first player's frames (lower port), then all
//! of the second's. Values come from [`exphil_state::states`], so they are the values the
//! embedding sees (percent floored, hitstun and hitlag separate, sticks on 0..1 with 0.5 neutral).
//! Small integers are stored as INT32 with an integer logical type (`uint8`, `int16`, …);
//! every column is dictionary-encoded where that pays, floats that change every frame use
//! `BYTE_STREAM_SPLIT`, and pages are zstd-compressed.

use exphil_embed::TargetCoder;
use exphil_replay::{Game, Port};
use exphil_state::{states, Fighter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{BoolType, FloatType, Int32Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Version of the table layout; part of every table's cache key and its file metadata.
pub const TABLE_FORMAT_VERSION: u32 = 1;

/// Errors of writing or checking a frame table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The game does not have exactly two players.
    #[error("a frame table needs exactly two players, the game has {0}")]
    NotTwoPlayers(usize),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Parquet library reported an error.
    #[error("{path}: Parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet error.
        source: parquet::errors::ParquetError,
    },
    /// An existing table does not match what it should hold.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Physical storage of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// INT32 with the given logical annotation (`None`: plain int32).
    Int(Option<&'static str>),
    /// FLOAT (f32), dictionary-encoded (few distinct values).
    Float,
    /// FLOAT (f32) that changes almost every frame: `BYTE_STREAM_SPLIT`, no dictionary.
    FloatSplit,
    /// BOOLEAN.
    Bool,
}

/// The columns of a frame table, in file order, with their storage.
const COLUMNS: [(&str, Kind); 33] = [
    ("frame", Kind::Int(None)),
    ("port", Kind::Int(Some("INTEGER(8,false)"))),
    ("character", Kind::Int(Some("INTEGER(8,false)"))),
    ("action", Kind::Int(Some("INTEGER(16,false)"))),
    ("action_frame", Kind::Int(Some("INTEGER(16,true)"))),
    ("percent", Kind::Int(Some("INTEGER(16,false)"))),
    ("stocks", Kind::Int(Some("INTEGER(8,false)"))),
    ("x", Kind::FloatSplit),
    ("y", Kind::FloatSplit),
    ("facing", Kind::Int(Some("INTEGER(8,true)"))),
    ("on_ground", Kind::Bool),
    ("shield", Kind::Float),
    ("jumps_left", Kind::Int(Some("INTEGER(8,false)"))),
    ("hitstun_left", Kind::Int(Some("INTEGER(16,false)"))),
    ("hitlag_left", Kind::Int(Some("INTEGER(16,false)"))),
    ("speed_air_x_self", Kind::FloatSplit),
    ("speed_ground_x_self", Kind::FloatSplit),
    ("speed_y_self", Kind::FloatSplit),
    ("speed_x_attack", Kind::FloatSplit),
    ("speed_y_attack", Kind::FloatSplit),
    ("invulnerable", Kind::Bool),
    ("main_x", Kind::Float),
    ("main_y", Kind::Float),
    ("c_x", Kind::Float),
    ("c_y", Kind::Float),
    ("shoulder", Kind::Float),
    ("buttons", Kind::Int(Some("INTEGER(8,false)"))),
    ("target_buttons", Kind::Int(Some("INTEGER(8,false)"))),
    ("target_main_x", Kind::Int(Some("INTEGER(16,false)"))),
    ("target_main_y", Kind::Int(Some("INTEGER(16,false)"))),
    ("target_c_x", Kind::Int(Some("INTEGER(16,false)"))),
    ("target_c_y", Kind::Int(Some("INTEGER(16,false)"))),
    ("target_shoulder", Kind::Int(Some("INTEGER(16,false)"))),
];

/// Column names of a frame table, in file order.
pub fn table_columns() -> Vec<&'static str> {
    COLUMNS.iter().map(|(n, _)| *n).collect()
}

/// The Parquet schema (message type) of a frame table.
fn schema_text() -> String {
    let mut s = String::from("message exphil_frame_table {\n");
    for (name, kind) in COLUMNS {
        let line = match kind {
            Kind::Int(None) => format!("  REQUIRED INT32 {name};\n"),
            Kind::Int(Some(t)) => format!("  REQUIRED INT32 {name} ({t});\n"),
            Kind::Float | Kind::FloatSplit => format!("  REQUIRED FLOAT {name};\n"),
            Kind::Bool => format!("  REQUIRED BOOLEAN {name};\n"),
        };
        s.push_str(&line);
    }
    s.push('}');
    s
}

/// One column's values.
enum Values {
    Int(Vec<i32>),
    Float(Vec<f32>),
    Bool(Vec<bool>),
}

/// A frame table in memory, column by column (in [`table_columns`] order).
pub struct FrameTable {
    columns: Vec<Values>,
    rows: usize,
}

impl FrameTable {
    /// Rows (frames × 2 players).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The table of `game`'s two players, targets encoded by `coder`.
    pub fn of_game(game: &Game, coder: &TargetCoder) -> Result<FrameTable, TableError> {
        let mut ports: Vec<Port> = game.start.players.iter().map(|p| p.port).collect();
        ports.sort_by_key(|p| p.index());
        let [a, b] = ports[..] else {
            return Err(TableError::NotTwoPlayers(ports.len()));
        };
        let seen = states(game, a, b);
        let mut columns: Vec<Values> = COLUMNS
            .iter()
            .map(|(_, k)| match k {
                Kind::Int(_) => Values::Int(Vec::with_capacity(seen.len() * 2)),
                Kind::Float | Kind::FloatSplit => Values::Float(Vec::with_capacity(seen.len() * 2)),
                Kind::Bool => Values::Bool(Vec::with_capacity(seen.len() * 2)),
            })
            .collect();
        for (side, port) in [(0usize, a), (1, b)] {
            for (_, s) in &seen {
                push_row(&mut columns, s.frame, port, &s.players[side], coder);
            }
        }
        Ok(FrameTable {
            columns,
            rows: seen.len() * 2,
        })
    }

    /// Writes the table to `path` atomically (a temporary file beside it, then a rename), with
    /// `metadata` as key-value pairs in the file footer.
    pub fn write(&self, path: &Path, metadata: &[(String, String)]) -> Result<u64, TableError> {
        let tmp = path.with_extension("parquet.tmp");
        let pq = |source| TableError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let io = |source| TableError::Io {
            path: path.to_path_buf(),
            source,
        };
        // The schema text is built from constants above; parsing it is tested.
        let schema = Arc::new(parse_message_type(&schema_text()).map_err(pq)?);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(6).map_err(pq)?))
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(1 << 20))
            .set_created_by(format!(
                "exphil {} (frame table v{TABLE_FORMAT_VERSION})",
                env!("CARGO_PKG_VERSION")
            ))
            .set_key_value_metadata(Some(
                metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ));
        for (name, kind) in COLUMNS {
            if kind == Kind::FloatSplit {
                let col = ColumnPath::from(name);
                props = props
                    .set_column_dictionary_enabled(col.clone(), false)
                    .set_column_encoding(col, Encoding::BYTE_STREAM_SPLIT);
            }
        }
        let file = File::create(&tmp).map_err(io)?;
        let result = (|| {
            let mut writer =
                SerializedFileWriter::new(file, schema, Arc::new(props.build())).map_err(pq)?;
            let mut group = writer.next_row_group().map_err(pq)?;
            let mut values = self.columns.iter();
            while let Some(mut col) = group.next_column().map_err(pq)? {
                let Some(v) = values.next() else {
                    return Err(TableError::Invalid {
                        path: path.to_path_buf(),
                        reason: "schema has more columns than the table".into(),
                    });
                };
                match v {
                    Values::Int(v) => col.typed::<Int32Type>().write_batch(v, None, None),
                    Values::Float(v) => col.typed::<FloatType>().write_batch(v, None, None),
                    Values::Bool(v) => col.typed::<BoolType>().write_batch(v, None, None),
                }
                .map_err(pq)?;
                col.close().map_err(pq)?;
            }
            group.close().map_err(pq)?;
            writer.close().map_err(pq)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(std::fs::metadata(path).map_err(io)?.len())
    }
}

/// Appends one player's row.
fn push_row(columns: &mut [Values], frame: i32, port: Port, f: &Fighter, coder: &TargetCoder) {
    let c = &f.controller;
    let t = coder.encode(c);
    let facing = if f.facing_right { 1 } else { -1 };
    let mut i = 0usize;
    let mut next = |col: &mut [Values], v: Cell| {
        match (&mut col[i], v) {
            (Values::Int(vs), Cell::I(x)) => vs.push(x),
            (Values::Float(vs), Cell::F(x)) => vs.push(x),
            (Values::Bool(vs), Cell::B(x)) => vs.push(x),
            // The cells below follow COLUMNS exactly (checked by the round-trip test).
            _ => unreachable!("column {i} has another type"),
        }
        i += 1;
    };
    use Cell::{B, F, I};
    for v in [
        I(frame),
        I(port.index() as i32 + 1),
        I(f.character.0 as i32),
        I(f.action as i32),
        I(f.action_frame as i32),
        I(f.percent as i32),
        I(f.stocks as i32),
        F(f.x),
        F(f.y),
        I(facing),
        B(f.on_ground),
        F(f.shield),
        I(f.jumps_left as i32),
        I(f.hitstun_left as i32),
        I(f.hitlag_left as i32),
        F(f.speed_air_x_self),
        F(f.speed_ground_x_self),
        F(f.speed_y_self),
        F(f.speed_x_attack),
        F(f.speed_y_attack),
        B(f.invulnerable),
        F(c.main_x),
        F(c.main_y),
        F(c.c_x),
        F(c.c_y),
        F(c.shoulder),
        I(c.buttons.0 as i32),
        I(t.buttons.0 as i32),
        I(t.main_x as i32),
        I(t.main_y as i32),
        I(t.c_x as i32),
        I(t.c_y as i32),
        I(t.shoulder as i32),
    ] {
        next(columns, v);
    }
}

/// One value of a row.
enum Cell {
    I(i32),
    F(f32),
    B(bool),
}

/// What an existing table file holds, from its footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFooter {
    /// Rows.
    pub rows: u64,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Key-value metadata.
    pub metadata: Vec<(String, String)>,
}

/// Reads a table's footer (schema, row count, metadata): a cheap validity check.
pub fn read_footer(path: &Path) -> Result<TableFooter, TableError> {
    let file = File::open(path).map_err(|source| TableError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|source| TableError::Parquet {
        path: path.to_path_buf(),
        source,
    })?;
    let meta = reader.metadata().file_metadata();
    Ok(TableFooter {
        rows: meta.num_rows().max(0) as u64,
        columns: meta
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        metadata: meta
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_with_every_column() {
        let schema = parse_message_type(&schema_text()).unwrap();
        let names: Vec<_> = schema.get_fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, table_columns());
    }
}
