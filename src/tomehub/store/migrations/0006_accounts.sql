-- Local accounts, their browser sessions and personal API keys. An account's username is its
-- user's uid: the account alice owns the library that `tomehub token create --user alice` reaches.
-- depends: 0005_file_counts

CREATE TABLE accounts (
    user_id             integer PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    username            text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    -- argon2id, in its PHC string form (parameters and salt included).
    password_hash       text NOT NULL,
    is_admin            boolean NOT NULL DEFAULT false,
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

-- A browser session: its id is the `sid` claim of the signed cookie token, looked up on every
-- request, so a logout or a disabled account ends it at once.
CREATE TABLE auth_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    user_agent  text
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Personal API keys: only the SHA-256 of the whole key is kept (the secret part is 256 random
-- bits, so a fast hash is enough), and the public prefix that names it in lists.
CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    key_hash      text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
