// Worker-thread entry of the sampler thread (sampler.ts), started by the model runner from its own thread.
import { serve } from '../protocol/worker-rpc.ts';
import { samplerHandlers } from './sampler.ts';

serve(samplerHandlers);
