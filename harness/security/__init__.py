"""Bus security for a deployment: local CA and certificates, NKEY identities,
per-tenant accounts with least-privilege permissions, JetStream store encryption.

``twinbench security init DIR`` writes a deployment (:mod:`.deployment`);
:class:`~harness.security.client.SecureNatsConfig` turns it into nats-server
config text and per-role ``nats.connect`` arguments. See ``docs/security.md``.
"""
