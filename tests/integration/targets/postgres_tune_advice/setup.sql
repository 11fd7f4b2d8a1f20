-- The workload's tables: 300,000 customers, and 40 orders whose customers are all gone.
DROP TABLE IF EXISTS customers, orders;
CREATE TABLE customers AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 300000) AS g;
CREATE TABLE orders AS SELECT g AS id, 1000000 + g AS customer_id FROM generate_series(1, 40) AS g;
ANALYZE customers;
ANALYZE orders;
