//! /functions/v1/projects[/{id}] — list (with machine counts), create, read with its machines, rename, delete (`?cascade=true`).
shared::function!("projects" / {id}, [Get, Post, Patch, Delete], user => shared::api::projects::projects);
