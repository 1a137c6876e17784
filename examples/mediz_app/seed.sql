-- Demo data in the meDIZ proportions: 4,000 users (1,000 premium), 40 symptoms, 40,000 reports
-- over 60 days, and a reminder for each premium user. Runs only on an empty database.
INSERT INTO users (email, is_premium)
SELECT 'user' || g || '@example.com', g % 4 = 0 FROM generate_series(1, 4000) AS g;
INSERT INTO symptoms (name)
SELECT unnest(ARRAY['headache','fatigue','nausea','dizziness','insomnia','anxiety','back pain',
  'fever','cough','sore throat','joint pain','heartburn','migraine','rash','palpitations',
  'shortness of breath','chest pain','abdominal pain','bloating','constipation','diarrhea',
  'muscle cramps','numbness','tremor','blurred vision','dry mouth','chills','sweating',
  'loss of appetite','weight gain','hair loss','itching','sneezing','runny nose','ear ache',
  'toothache','neck pain','brain fog','low mood','restlessness']);
INSERT INTO symptom_reports (user_id, symptom_id, intensity, reported_at)
SELECT 1 + (g * 7919) % 4000,
       1 + floor(40 * power(((g::bigint * 104729) % 1000) / 1000.0, 2))::int,
       1 + (g % 10),
       now() - ((g % 1440) * interval '1 hour')
FROM generate_series(1, 40000) AS g;
INSERT INTO reminders (user_id, message, due_at)
SELECT id, 'Log how you feel today', now() + ((id % 24) * interval '1 hour')
FROM users WHERE is_premium;
ANALYZE;  -- fresh statistics, so the first plans are real ones
