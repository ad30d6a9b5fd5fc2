-- Per-user call limits, kept on the user row so the reservation checks and counts them in the one
-- statement that debits the balance (the row lock makes it exact across every instance):
-- calls in flight (open holds), and calls admitted in the current UTC minute.
ALTER TABLE users
    ADD COLUMN calls_in_flight integer NOT NULL DEFAULT 0,
    ADD COLUMN call_window_start timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z',
    ADD COLUMN call_window_calls integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_calls_in_flight_non_negative CHECK (calls_in_flight >= 0),
    ADD CONSTRAINT users_call_window_calls_non_negative CHECK (call_window_calls >= 0);

UPDATE users SET calls_in_flight = (SELECT count(*) FROM budget_holds h WHERE h.user_id = users.id);
