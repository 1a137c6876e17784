-- The meDIZ shape: users, symptoms, reports of symptoms, reminders and push subscriptions.
-- Idempotent: safe to run at every start.
CREATE TABLE IF NOT EXISTS users (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    is_premium  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS symptoms (
    id    serial PRIMARY KEY,
    name  text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS symptom_reports (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symptom_id   int NOT NULL REFERENCES symptoms (id),
    intensity    smallint NOT NULL CHECK (intensity BETWEEN 1 AND 10),
    reported_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS symptom_reports_recent ON symptom_reports (reported_at, symptom_id);
CREATE INDEX IF NOT EXISTS symptom_reports_user ON symptom_reports (user_id, reported_at DESC);
-- No index leads with symptom_id, on purpose: the index advisor's demo (docs/advisor.md) finds
-- that a symptom's latest reports walk symptom_reports_recent backwards, and proves the fix.
CREATE TABLE IF NOT EXISTS reminders (
    id        bigserial PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message   text NOT NULL,
    due_at    timestamptz NOT NULL,
    sent_at   timestamptz
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders (due_at) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint    text NOT NULL UNIQUE,
    keys        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
