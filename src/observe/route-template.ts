/**
 * The route template of a request to the service's HTTP API, for metric labels and span names:
 * never the path itself (ids and names a client chose would make labels unbounded).
 */
export function routeTemplate(url: string): string {
  const queryAt = url.indexOf("?");
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (path === "/health") return "/health";
  const segments = path.split("/").length - 1;
  if (path.startsWith("/views/") && segments === 3) return "/views/{view}/{query}";
  if (segments === 2) return "/{workflow}/{id}";
  if (segments === 3) return "/{component}/{id}/{handler}";
  return "(other)";
}
