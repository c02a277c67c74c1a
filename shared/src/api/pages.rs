//! The answer of a paged list (`teams`, `teams/invitations`, `projects`): `{<name>: [...],
//! nextCursor}`, the items copied as SQL wrote them.
use crate::db::ItemPage;
use crate::domain::PageCursor;
use crate::http::Reply;
use serde::ser::{Serialize, SerializeMap, Serializer};

struct Named {
    name: &'static str,
    page: ItemPage,
}

impl Serialize for Named {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.name, &self.page.items)?;
        map.serialize_entry("nextCursor", &self.page.next.as_ref().map(PageCursor::encode))?;
        map.end()
    }
}

/// `200 {<name>: items, nextCursor}`.
pub(crate) fn reply(name: &'static str, page: ItemPage) -> Reply {
    Reply::ok(Named { name, page })
}
