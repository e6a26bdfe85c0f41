DROP TABLE pulse_kv;
