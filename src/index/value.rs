//! The neutral values the index's queries take and give on both kinds of
//! database: parameters and columns are integers, text, bytes or NULL
//! (the schema has nothing else), converted here once for SQLite and for
//! PostgreSQL.

use std::error::Error;

use bytes::BytesMut;
use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use super::IndexError;

/// One parameter or column.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    #[default]
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}
/// Sizes beyond `i64::MAX` do not happen; they are kept at the maximum.
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row; each column is taken out once, by its position.
#[derive(Debug)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    fn take(&mut self, i: usize) -> Value {
        self.0.get_mut(i).map(std::mem::take).unwrap_or_default()
    }

    fn wrong(i: usize, expected: &'static str, found: &Value) -> IndexError {
        IndexError::Column {
            column: i,
            expected,
            found: found.kind(),
        }
    }

    pub fn opt_int(&mut self, i: usize) -> Result<Option<i64>, IndexError> {
        match self.take(i) {
            Value::Int(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(Self::wrong(i, "an integer", &other)),
        }
    }

    pub fn int(&mut self, i: usize) -> Result<i64, IndexError> {
        match self.opt_int(i)? {
            Some(v) => Ok(v),
            None => Err(Self::wrong(i, "an integer", &Value::Null)),
        }
    }

    /// A count or size: below zero reads as zero.
    pub fn u64(&mut self, i: usize) -> Result<u64, IndexError> {
        Ok(self.int(i)?.max(0) as u64)
    }

    pub fn opt_u32(&mut self, i: usize) -> Result<Option<u32>, IndexError> {
        match self.opt_int(i)? {
            None => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| Self::wrong(i, "a 32-bit unsigned integer", &Value::Int(v))),
        }
    }

    pub fn u32(&mut self, i: usize) -> Result<u32, IndexError> {
        match self.opt_u32(i)? {
            Some(v) => Ok(v),
            None => Err(Self::wrong(i, "an integer", &Value::Null)),
        }
    }

    pub fn bool(&mut self, i: usize) -> Result<bool, IndexError> {
        Ok(self.int(i)? != 0)
    }

    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>, IndexError> {
        match self.take(i) {
            Value::Text(v) => Ok(Some(v)),
            Value::Null => Ok(None),
            other => Err(Self::wrong(i, "text", &other)),
        }
    }

    pub fn text(&mut self, i: usize) -> Result<String, IndexError> {
        match self.opt_text(i)? {
            Some(v) => Ok(v),
            None => Err(Self::wrong(i, "text", &Value::Null)),
        }
    }

    pub fn blob(&mut self, i: usize) -> Result<Vec<u8>, IndexError> {
        match self.take(i) {
            Value::Blob(v) => Ok(v),
            other => Err(Self::wrong(i, "bytes", &other)),
        }
    }

    /// The whole row, for copying it as it is.
    pub(super) fn take_all(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.0)
    }

    pub(super) fn from_sqlite(r: &rusqlite::Row<'_>) -> Result<Row, IndexError> {
        let n = r.as_ref().column_count();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                // The schema has no REAL columns; a float is a bug.
                ValueRef::Real(_) => {
                    return Err(IndexError::Column {
                        column: i,
                        expected: "an integer, text or bytes",
                        found: "a float",
                    })
                }
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        Ok(Row(out))
    }

    pub(super) fn from_pg(r: &tokio_postgres::Row) -> Result<Row, IndexError> {
        (0..r.len())
            .map(|i| r.try_get::<_, Value>(i).map_err(IndexError::Pg))
            .collect::<Result<_, _>>()
            .map(Row)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn is_text(ty: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(ty)
}

/// PostgreSQL infers each `$n`'s type from the statement: an integer goes
/// into whatever integer type it is asked for (if it fits), NULL into any.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => Err(format!("an integer for a parameter of type {ty}").into()),
            },
            Value::Text(s) if is_text(ty) => s.as_str().to_sql(ty, out),
            Value::Blob(b) if *ty == Type::BYTEA => b.as_slice().to_sql(ty, out),
            other => Err(format!("{} for a parameter of type {ty}", other.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in to_sql: NULL goes anywhere.
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, Box<dyn Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, Box<dyn Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        [Type::INT8, Type::INT4, Type::INT2, Type::BOOL, Type::BYTEA].contains(ty) || is_text(ty)
    }
}
