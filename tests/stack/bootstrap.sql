-- What a Supabase project already has before our migrations run, and what the
-- migrations therefore must NOT create: the API roles, the `auth` helpers that
-- RLS policies call, the `extensions` schema with pgcrypto, and Supabase's
-- default grants. Modelled on supabase/postgres's initial schema. Applied once
-- to a fresh local cluster, as the superuser `postgres` (on Supabase the
-- migrations also run as `postgres`).
\set ON_ERROR_STOP 1

-- ---- Roles -------------------------------------------------------------------
-- anon: requests without a token (or with the anon key).
-- authenticated: requests with a user's token (role=authenticated).
-- service_role: the service key; bypasses RLS.
-- authenticator: what PostgREST logs in as, then SET ROLE to the token's role.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
  END IF;
END
$$;
GRANT anon, authenticated, service_role TO authenticator;

-- Supabase's statement timeouts for the API roles.
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';

-- ---- Extensions ------------------------------------------------------------------
-- Supabase installs extensions into `extensions` and puts it on the search_path,
-- so gen_random_uuid(), digest(), hmac(), uuid_generate_v4() resolve unqualified.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO postgres, anon, authenticated, service_role;
ALTER DATABASE postgres SET search_path TO "$user", public, extensions;

-- ---- auth schema: the helpers RLS policies call ------------------------------------
-- PostgREST sets request.jwt.claims (JSON text) for every request; these read it.
-- Definitions as on Supabase (the older per-claim settings are still honoured).
CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;

-- ---- public schema: Supabase's grants ---------------------------------------------
-- Supabase grants everything on public objects to the API roles and relies on RLS
-- (a table without RLS enabled is readable and writable by anon!). The default
-- privileges apply to objects that `postgres` creates, i.e. the migrations.
GRANT USAGE ON SCHEMA public TO postgres, anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO postgres, anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO postgres, anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
  GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;

-- ---- Bookkeeping of the local stack (not part of Supabase, not exposed) -----------
CREATE SCHEMA IF NOT EXISTS hangar_local;
CREATE TABLE IF NOT EXISTS hangar_local.applied_migrations (
  name text PRIMARY KEY,
  sha256 text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
