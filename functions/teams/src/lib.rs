//! /functions/v1/teams[/{id}[/members[/{accountId}] | /join] | /invitations[/{id}]] — my teams, create, read, rename, delete; members (list, invite, remove or leave); invitations (mine, join, decline or withdraw).
shared::function!("teams" / {id}, [Get, Post, Patch, Delete], user => shared::api::teams::teams);
