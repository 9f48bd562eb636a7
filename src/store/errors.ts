/** Thrown by repositories; the CLI and admin API map them to 404 / 409. */
export class NotFoundError extends Error {
  readonly resource: string;
  readonly id: string;
  constructor(resource: string, id: string) {
    super(`${resource} "${id}" not found`);
    this.name = 'NotFoundError';
    this.resource = resource;
    this.id = id;
  }
}

export class ConflictError extends Error {
  readonly resource: string;
  readonly id: string;
  constructor(resource: string, id: string, message?: string) {
    super(message ?? `${resource} "${id}" already exists`);
    this.name = 'ConflictError';
    this.resource = resource;
    this.id = id;
  }
}
