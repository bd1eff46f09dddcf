//! End-to-end tests of kessler live in `tests/`: they need a real Kafka broker (`KESSLER_TEST_BROKERS`, set by
//! `scripts/test.sh`) and a real wgpu adapter (a GPU, or Mesa's lavapipe).
