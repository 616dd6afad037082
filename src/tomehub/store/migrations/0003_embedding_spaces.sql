-- The embedding spaces (model, version, dimension) that have a vector index, so an index whose
-- model no longer has any vector can be dropped after a re-embedding.
-- depends: 0002_job_queue

CREATE TABLE embedding_spaces (
    model       text NOT NULL,
    version     text NOT NULL,
    dim         integer NOT NULL,
    index_name  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);
