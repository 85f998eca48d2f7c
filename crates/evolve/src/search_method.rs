//! The `search` entry of RUN.toml: a `[search]` table, or only the method's name
//! (`search = "cma-es"`), which keeps every other search setting at its default.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::run_config::{SearchConfig, SearchMethod};

/// Deserialises `search` from a table or a method name.
pub(crate) fn table_or_method<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SearchConfig, D::Error> {
    struct TableOrMethod;

    impl<'de> Visitor<'de> for TableOrMethod {
        type Value = SearchConfig;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(r#"a [search] table or a method name: "cycleqd", "cma-es" or "nsga2""#)
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<SearchConfig, E> {
            let method = SearchMethod::deserialize(de::value::StrDeserializer::<E>::new(name))?;
            Ok(SearchConfig {
                method,
                ..SearchConfig::default()
            })
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<SearchConfig, M::Error> {
            SearchConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_any(TableOrMethod)
}
