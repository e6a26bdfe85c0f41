DROP TABLE agent_grants;
--bun:split
DROP TABLE agent_versions;
--bun:split
DROP TABLE agents;
