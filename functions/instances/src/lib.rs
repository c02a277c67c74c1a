//! /functions/v1/instances[/{id}] — REST facade: list, create, read, update.
shared::function!("instances" / {id}, [Get, Post, Put, Patch], user => shared::api::machines::instances);
