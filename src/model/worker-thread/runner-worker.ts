// Worker-thread entry of the model runner (runner-service.ts serves it).
import { ModelRunner } from './model-runner.ts';
import { serveRunner } from './runner-service.ts';

serveRunner((options) => ModelRunner.load(options));
