-- Chat sessions (chats/): a user's conversations and their messages. An answer keeps what produced
-- it (answerer, review, tier, versions, citations) and what retrieval searched for it: a follow-up is
-- searched as a standalone query a model condensed, or with the previous question's terms
-- (chats/followup.py). A stream that ended early keeps what was said, marked incomplete.
-- depends: 0007_library_browsing

CREATE TABLE chats (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL until the first question names it (or the user does).
    title       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The last message or rename: GET /api/chats lists the most recently active first.
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- GET /api/chats pages by keyset on exactly these keys (chats/repo.py).
CREATE INDEX chats_user_updated ON chats (user_id, updated_at DESC, id DESC);
-- Searching one's chats by text. 'simple' (lower-cased words, no stemming) treats every language
-- alike and is in every PostgreSQL; words match as typed or as prefixes.
CREATE INDEX chats_title_text ON chats USING gin (to_tsvector('simple', coalesce(title, '')));

CREATE TABLE chat_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id       uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    -- The chat's owner again, so a text search is scoped without a join first.
    user_id       integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('user', 'assistant')),
    content       text NOT NULL,
    -- Assistant messages only: [{chunk_id, item_id, title, author, page, chapter}].
    citations     jsonb NOT NULL DEFAULT '[]',
    answerer      text,
    review        text,
    tier          smallint,
    -- {embedding_model, chat_model, prompt_hash}
    versions      jsonb,
    -- What retrieval searched for this answer, and how a follow-up was resolved ('condensed' by a
    -- model, or the 'rule': previous question + this message as a second keyword list).
    search_query  text,
    followup      text CHECK (followup IN ('condensed', 'rule')),
    complete      boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_chat ON chat_messages (chat_id, id);
CREATE INDEX chat_messages_text ON chat_messages USING gin (to_tsvector('simple', content));
