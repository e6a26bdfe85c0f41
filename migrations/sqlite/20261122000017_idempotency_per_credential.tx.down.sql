-- Nothing to restore: the dropped records were unreachable.
SELECT 1;
