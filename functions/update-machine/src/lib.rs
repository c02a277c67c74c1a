//! PATCH /functions/v1/update-machine — rename, move to a project, change tier while stopped.
shared::function!("update-machine", [Patch], user => shared::api::machines::update);
