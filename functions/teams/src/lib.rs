//! /functions/v1/teams[/{id}[/members[/{accountId}]]] — my teams, create, read, rename, delete; list, add and remove members.
shared::function!("teams" / {id}, [Get, Post, Patch, Delete], user => shared::api::teams::teams);
