//! /functions/v1/secrets[/{id}] — list names (never values), upsert by name (PUT, or POST for supabase.functions.invoke; account, project or machine scope), delete.
shared::function!("secrets" / {id}, [Get, Post, Put, Delete], user => shared::api::secrets::secrets);
