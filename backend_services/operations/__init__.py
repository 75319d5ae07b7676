"""The platform's own running, for the admin System page: how big the database and Valkey
are and how they grow, the job queue and its failures, every process on every host, and
the error rate — each read from the shared stores, so any web worker answers for all."""
