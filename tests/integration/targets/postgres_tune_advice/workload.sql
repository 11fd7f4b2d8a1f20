-- pgbench -f: one transaction is these two statements.
-- Orphaned orders: at work_mem 4MB the 300,000 ids do not fit a hashed subplan, so PostgreSQL
-- materializes them (in temp files) and rescans them for every order; with more memory it hashes them once.
SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers);
-- A report sorted by name: 60,000 rows need about 6.5MB to sort in memory; at 4MB it is an external merge sort.
SELECT id FROM customers WHERE id <= 60000 ORDER BY name OFFSET 59999;
