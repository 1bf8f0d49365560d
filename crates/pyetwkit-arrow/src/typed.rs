//! Typed property columns: a column's Arrow type is inferred from the values
//! it holds, joined over a small lattice, and the values are then written in
//! that type. Values that cannot share one type become JSON text.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int64Array, ListArray, NullArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Fields, TimeUnit};
use pyetwkit_core::{filetime_parts, systemtime_millis, Value};

/// FILETIME ticks (100 ns since 1601) at the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

/// The type a column's values share: a join-semilattice with `Null` at the
/// bottom and `Json` (each value's JSON text) at the top.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Null,
    Bool,
    I64,
    /// `big`: some value does not fit an i64 (so it cannot join `I64`).
    U64 {
        big: bool,
    },
    F64,
    /// Strings, SIDs, GUIDs and IPs, as their text.
    Text,
    Bytes,
    /// A FILETIME that Python's `datetime` holds (UTC, microseconds).
    FileTime,
    /// A valid SYSTEMTIME (no time zone, milliseconds).
    SystemTime,
    List(Box<Ty>),
    /// Children by name, in first-seen order.
    Struct(Vec<(String, Ty)>),
    Json,
}

impl Ty {
    /// The type of one value.
    pub fn of(value: &Value) -> Ty {
        match value {
            Value::Null => Ty::Null,
            Value::Bool(_) => Ty::Bool,
            Value::I64(_) => Ty::I64,
            Value::U64(v) => Ty::U64 {
                big: i64::try_from(*v).is_err(),
            },
            Value::F64(_) => Ty::F64,
            Value::Str(_) | Value::Sid(_) | Value::Guid(_) | Value::Ip(_) => Ty::Text,
            Value::Bytes(_) => Ty::Bytes,
            // Past what `datetime` holds, Python gives the ISO text: so does the column.
            Value::FileTime(ft) if filetime_micros(*ft).is_some() => Ty::FileTime,
            Value::SystemTime(t) if systemtime_millis(t).is_some() => Ty::SystemTime,
            Value::FileTime(_) | Value::SystemTime(_) => Ty::Text,
            Value::List(items) => Ty::List(Box::new(
                items
                    .iter()
                    .fold(Ty::Null, |ty, item| ty.join(Ty::of(item))),
            )),
            // A struct without fields has no Arrow form worth having.
            Value::Struct(fields) if fields.is_empty() => Ty::Json,
            Value::Struct(fields) => {
                let mut children: Vec<(String, Ty)> = Vec::with_capacity(fields.len());
                for (name, value) in fields {
                    let ty = Ty::of(value);
                    match children.iter_mut().find(|(n, _)| **n == **name) {
                        Some((_, child)) => *child = std::mem::replace(child, Ty::Null).join(ty),
                        None => children.push((name.to_string(), ty)),
                    }
                }
                Ty::Struct(children)
            }
        }
    }

    /// Joins the type of `value` in place: for a value of the type already
    /// held (nearly always), no new type is made.
    pub fn widen(&mut self, value: &Value) {
        let same = matches!(
            (&*self, value),
            (_, Value::Null)
                | (Ty::Bool, Value::Bool(_))
                | (Ty::I64, Value::I64(_))
                | (Ty::U64 { big: true }, Value::U64(_))
                | (Ty::F64, Value::F64(_))
                | (
                    Ty::Text,
                    Value::Str(_) | Value::Sid(_) | Value::Guid(_) | Value::Ip(_)
                )
                | (Ty::Bytes, Value::Bytes(_))
                | (Ty::Json, _)
        ) || matches!((&*self, value), (Ty::U64 { big: false }, Value::U64(v)) if i64::try_from(*v).is_ok());
        if !same {
            *self = std::mem::replace(self, Ty::Null).join(Ty::of(value));
        }
    }

    /// The least type holding both.
    pub fn join(self, other: Ty) -> Ty {
        match (self, other) {
            (Ty::Null, t) | (t, Ty::Null) => t,
            (Ty::U64 { big: a }, Ty::U64 { big: b }) => Ty::U64 { big: a || b },
            (Ty::I64, Ty::U64 { big: false }) | (Ty::U64 { big: false }, Ty::I64) => Ty::I64,
            (Ty::List(a), Ty::List(b)) => match a.join(*b) {
                Ty::Json => Ty::Json,
                item => Ty::List(Box::new(item)),
            },
            (Ty::Struct(mut a), Ty::Struct(b)) => {
                for (name, ty) in b {
                    match a.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, child)) => *child = std::mem::replace(child, Ty::Null).join(ty),
                        None => a.push((name, ty)),
                    }
                }
                Ty::Struct(a)
            }
            (a, b) if a == b => a,
            _ => Ty::Json,
        }
    }

    /// The Arrow type of a column of this type.
    pub fn data_type(&self) -> DataType {
        match self {
            Ty::Null => DataType::Null,
            Ty::Bool => DataType::Boolean,
            Ty::I64 => DataType::Int64,
            Ty::U64 { .. } => DataType::UInt64,
            Ty::F64 => DataType::Float64,
            Ty::Text | Ty::Json => DataType::Utf8,
            Ty::Bytes => DataType::Binary,
            Ty::FileTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Ty::SystemTime => DataType::Timestamp(TimeUnit::Millisecond, None),
            Ty::List(item) => DataType::List(Arc::new(item.field("item"))),
            Ty::Struct(children) => DataType::Struct(struct_fields(children)),
        }
    }

    /// A nullable Arrow field of this type; JSON text is marked as such.
    pub fn field(&self, name: &str) -> ArrowField {
        let field = ArrowField::new(name, self.data_type(), true);
        match self {
            Ty::Json => field.with_metadata([(MIXED_KEY, "true")]),
            _ => field,
        }
    }
}

/// Field metadata marking a column of JSON text: its values had no one type.
pub const MIXED_KEY: &str = "pyetwkit:mixed";

fn struct_fields(children: &[(String, Ty)]) -> Fields {
    children.iter().map(|(name, ty)| ty.field(name)).collect()
}

/// Microseconds since 1970 of a FILETIME, when Python's `datetime` (years 1
/// to 9999) holds it; ticks before 1601 are clamped to 1601, as in Python.
fn filetime_micros(ft: i64) -> Option<i64> {
    let (year, ..) = filetime_parts(ft);
    (1..=9_999)
        .contains(&year)
        .then(|| (ft.max(0) - UNIX_EPOCH_TICKS).div_euclid(10))
}

/// Appends a value as text (for `Ty::Text`): what Python's `str()` of its
/// property gives; written into the builder, with no string per value.
fn append_text(b: &mut StringBuilder, value: &Value) {
    use std::fmt::Write;
    // Writing into a builder cannot fail.
    let _ = match value {
        Value::Str(s) | Value::Sid(s) => {
            b.append_value(s);
            return;
        }
        Value::Guid(g) => write!(b, "{g}"),
        Value::Ip(ip) => write!(b, "{ip}"),
        Value::FileTime(ft) => {
            let mut buf = pyetwkit_core::IsoBuf::default();
            b.write_str(pyetwkit_core::write_iso8601(*ft, &mut buf))
        }
        Value::SystemTime(t) => b.write_str(&pyetwkit_core::systemtime_iso(t)),
        _ => {
            b.append_null();
            return;
        }
    };
    // Ends the row written above.
    b.append_value("");
}

/// The column of `values` in type `ty` (which holds each of them, as
/// `Ty::of` joined says); a value of another type would be null.
pub fn build(ty: &Ty, values: &[&Value]) -> Result<ArrayRef, ArrowError> {
    let array: ArrayRef = match ty {
        Ty::Null => Arc::new(NullArray::new(values.len())),
        Ty::Bool => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            for v in values {
                b.append_option(match v {
                    Value::Bool(x) => Some(*x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        Ty::I64 => Arc::new(Int64Array::from_iter(values.iter().map(|v| match v {
            Value::I64(x) => Some(*x),
            Value::U64(x) => i64::try_from(*x).ok(),
            _ => None,
        }))),
        Ty::U64 { .. } => Arc::new(UInt64Array::from_iter(values.iter().map(|v| match v {
            Value::U64(x) => Some(*x),
            _ => None,
        }))),
        Ty::F64 => Arc::new(Float64Array::from_iter(values.iter().map(|v| match v {
            Value::F64(x) => Some(*x),
            _ => None,
        }))),
        Ty::Text => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values {
                append_text(&mut b, v);
            }
            Arc::new(b.finish())
        }
        Ty::Bytes => Arc::new(BinaryArray::from_iter(values.iter().map(|v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        }))),
        Ty::FileTime => Arc::new(
            TimestampMicrosecondArray::from_iter(values.iter().map(|v| match v {
                Value::FileTime(ft) => filetime_micros(*ft),
                _ => None,
            }))
            .with_timezone("UTC"),
        ),
        Ty::SystemTime => Arc::new(TimestampMillisecondArray::from_iter(values.iter().map(
            |v| match v {
                Value::SystemTime(t) => systemtime_millis(t),
                _ => None,
            },
        ))),
        Ty::Json => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 8);
            let mut json = Vec::new();
            for v in values {
                match v {
                    Value::Null => b.append_null(),
                    v => {
                        json.clear();
                        // Writing to a Vec cannot fail.
                        let _ = serde_json::to_writer(&mut json, v);
                        b.append_value(std::str::from_utf8(&json).unwrap_or_default());
                    }
                }
            }
            Arc::new(b.finish())
        }
        Ty::List(item) => {
            let mut items = Vec::new();
            let mut lengths = Vec::with_capacity(values.len());
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::List(list) => {
                        items.extend(list.iter());
                        lengths.push(list.len());
                        valid.push(true);
                    }
                    _ => {
                        lengths.push(0);
                        valid.push(false);
                    }
                }
            }
            let field = Arc::new(item.field("item"));
            Arc::new(ListArray::try_new(
                field,
                OffsetBuffer::from_lengths(lengths),
                build(item, &items)?,
                Some(valid.into()),
            )?)
        }
        Ty::Struct(children) => {
            let mut arrays = Vec::with_capacity(children.len());
            for (name, child) in children {
                let column: Vec<&Value> = values
                    .iter()
                    .map(|v| match v {
                        // The last of a repeated name, as in Python's dict.
                        Value::Struct(fields) => fields
                            .iter()
                            .rfind(|(n, _)| **n == **name)
                            .map_or(&Value::Null, |(_, value)| value),
                        _ => &Value::Null,
                    })
                    .collect();
                arrays.push(build(child, &column)?);
            }
            let valid: Vec<bool> = values
                .iter()
                .map(|v| matches!(v, Value::Struct(_)))
                .collect();
            Arc::new(StructArray::try_new(
                struct_fields(children),
                arrays,
                Some(valid.into()),
            )?)
        }
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use arrow_array::Array;
    use pyetwkit_core::Name;

    fn column(values: &[Value]) -> (Ty, ArrayRef) {
        let ty = values
            .iter()
            .fold(Ty::Null, |ty, value| ty.join(Ty::of(value)));
        let refs: Vec<&Value> = values.iter().collect();
        let array = build(&ty, &refs).unwrap();
        (ty, array)
    }

    #[test]
    fn the_lattice_joins_ints_and_gives_json_for_the_rest() {
        assert_eq!(Ty::I64.join(Ty::U64 { big: false }), Ty::I64);
        assert_eq!(Ty::I64.join(Ty::U64 { big: true }), Ty::Json);
        assert_eq!(Ty::Null.join(Ty::F64), Ty::F64);
        assert_eq!(Ty::Text.join(Ty::U64 { big: false }), Ty::Json);
        assert_eq!(
            Ty::List(Box::new(Ty::Null)).join(Ty::List(Box::new(Ty::Bool))),
            Ty::List(Box::new(Ty::Bool))
        );
        let a = Ty::Struct(vec![("x".into(), Ty::I64)]);
        let b = Ty::Struct(vec![("y".into(), Ty::Text), ("x".into(), Ty::Null)]);
        assert_eq!(
            a.join(b),
            Ty::Struct(vec![("x".into(), Ty::I64), ("y".into(), Ty::Text)])
        );
    }

    #[test]
    fn widening_in_place_is_the_join() {
        let values = [
            Value::Null,
            Value::U64(3),
            Value::U64(u64::MAX),
            Value::I64(-2),
            Value::Str("x".into()),
            Value::Bool(true),
            Value::F64(0.5),
            Value::Bytes(vec![1]),
            Value::FileTime(UNIX_EPOCH_TICKS),
            Value::FileTime(i64::MAX),
            Value::List(vec![Value::U64(1)]),
            Value::Struct(vec![(Name::from("a"), Value::Null)]),
        ];
        // Every ordered pair, and each value twice: widen gives what join gives.
        for a in &values {
            for b in &values {
                let mut ty = Ty::Null;
                for v in [a, b, a] {
                    ty.widen(v);
                }
                let joined = [a, b, a].iter().fold(Ty::Null, |ty, v| ty.join(Ty::of(v)));
                assert_eq!(ty, joined, "{a:?} then {b:?}");
            }
        }
    }

    #[test]
    fn mixed_values_become_their_json_text() {
        let (ty, array) = column(&[
            Value::U64(5),
            Value::Null,
            Value::Str("five".into()),
            Value::List(vec![Value::Bool(true)]),
        ]);
        assert_eq!(ty, Ty::Json);
        let text = array.as_string::<i32>();
        assert_eq!(text.value(0), "5");
        assert!(text.is_null(1));
        assert_eq!(text.value(2), "\"five\"");
        assert_eq!(text.value(3), "[true]");
    }

    #[test]
    fn ints_times_lists_and_structs_keep_their_types() {
        let (ty, array) = column(&[Value::I64(-1), Value::U64(7)]);
        assert_eq!(ty, Ty::I64);
        assert_eq!(array.as_primitive::<Int64Type>().values(), &[-1, 7]);

        // 1970-01-01T00:00:01.0000019Z: microseconds are truncated, as in Python.
        let (_, array) = column(&[Value::FileTime(UNIX_EPOCH_TICKS + 10_000_019)]);
        let times = array.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(times.value(0), 1_000_001);
        // Past 9999, as in Python, the ISO text.
        let (ty, _) = column(&[Value::FileTime(i64::MAX)]);
        assert_eq!(ty, Ty::Text);

        let (_, array) = column(&[
            Value::List(vec![Value::U64(1), Value::U64(2)]),
            Value::Null,
            Value::List(vec![]),
        ]);
        let list = array.as_list::<i32>();
        assert_eq!(list.value_length(0), 2);
        assert!(list.is_null(1));
        assert_eq!(list.value_length(2), 0);

        let (ty, array) = column(&[
            Value::Struct(vec![(Name::from("a"), Value::U64(1))]),
            Value::Struct(vec![(Name::from("b"), Value::Str("x".into()))]),
        ]);
        assert_eq!(
            ty,
            Ty::Struct(vec![
                ("a".into(), Ty::U64 { big: false }),
                ("b".into(), Ty::Text)
            ])
        );
        let rows = array.as_struct();
        assert!(rows.column(0).is_null(1));
        assert_eq!(rows.column(1).as_string::<i32>().value(1), "x");
    }
}
