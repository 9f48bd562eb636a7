import { REDIS_URL, redisGate } from '../helpers/services.js';
import { describeSharedLimits } from './shared-limit-scenario.js';

// PRODUCT.md §7 / issue 4: limits hold across instances sharing one Redis.
const redis = await redisGate();

describeSharedLimits('rate limits across three instances sharing Redis', {
  skip: redis.skip,
  instances: 3,
  env: { PORTCULLIS_REDIS_URL: REDIS_URL },
  sustained: true,
});
